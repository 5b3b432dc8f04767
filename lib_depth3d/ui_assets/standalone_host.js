// The four page functions A1111's script.js gives extension scripts, for the standalone Depth 3D
// server (python -m lib_depth3d ui). Loaded before javascript/*.js; never inside A1111, which
// defines them itself.

(function () {
    "use strict";

    var loadedCallbacks = [];
    var updateCallbacks = [];
    var loaded = false;

    window.gradioApp = function () {
        var elements = document.getElementsByTagName("gradio-app");
        var app = elements.length === 0 ? document : elements[0];
        return app.shadowRoot ? app.shadowRoot : app;
    };

    window.onUiLoaded = function (callback) {
        loadedCallbacks.push(callback);
    };

    window.onUiUpdate = function (callback) {
        updateCallbacks.push(callback);
    };

    window.updateInput = function (target) {
        var event = new Event("input", {bubbles: true});
        Object.defineProperty(event, "target", {value: target});
        target.dispatchEvent(event);
    };

    function run(callbacks, argument) {
        callbacks.forEach(function (callback) {
            try {
                callback(argument);
            } catch (error) {
                console.error("Depth3D page callback failed:", error);
            }
        });
    }

    var observer = new MutationObserver(function (mutations) {
        if (!loaded && window.gradioApp().querySelector("#depth3d_canvas_host")) {
            loaded = true;
            run(loadedCallbacks);
        }
        run(updateCallbacks, mutations);
    });
    document.addEventListener("DOMContentLoaded", function () {
        observer.observe(window.gradioApp(), {childList: true, subtree: true});
    });
})();
