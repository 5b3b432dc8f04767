"""A1111's small gradio building blocks (real gradio classes underneath)."""

import gradio as gr


class FormRow(gr.Row):
    def get_block_name(self):
        return "row"


class FormColumn(gr.Column):
    def get_block_name(self):
        return "column"


class FormGroup(gr.Group):
    def get_block_name(self):
        return "group"


class ToolButton(gr.Button):
    def __init__(self, *args, **kwargs):
        classes = kwargs.pop("elem_classes", [])
        super().__init__(*args, elem_classes=["tool", *classes], **kwargs)

    def get_block_name(self):
        return "button"
