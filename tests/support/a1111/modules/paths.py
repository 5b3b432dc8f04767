"""Folders of the WebUI; the fixture points them into the test's temporary folder."""

script_path = ""
data_path = ""
models_path = ""
