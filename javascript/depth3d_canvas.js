// Depth 3D tab: the vanishing-line canvas editor.
//
// Plain script (A1111 injects every javascript/*.js into its page). It talks to Python through
// three textboxes of the tab, hidden by style.css:
//   #depth3d_lines      JS -> Python: the lines JSON (pixels, docs/calibration.md), written on every edit
//   #depth3d_to_canvas  Python -> JS: {"serial", "image_url", "lines"} when a picture, a .fspy or a setting changes
//   #depth3d_report     Python -> JS: {"report", "overlay"} of the solved camera, or {"error"}, with the "lines" solved
// The camera maths stays in Python: the canvas only draws what the report says.
// State lives in window.depth3dCanvas and in the textboxes, so a gradio re-render loses nothing.

(function () {
    "use strict";

    var AXIS_COLOURS = {x: "#e53935", y: "#43a047", z: "#1e88e5"};
    var HANDLE_RADIUS_PX = 6;
    var MAGNIFIER = {radiusPx: 60, zoom: 4};
    var MIN_SEGMENTS = 2;

    var editor = {
        lines: null,
        imageUrl: null,
        image: null,
        report: null,
        overlay: null,
        error: null,
        view: null,
        selected: null,
        drag: null,
        pointer: null,
        seenSerial: null,
        seenCanvasText: null,
        seenReport: null,
        solvedLines: null,
        sentLines: null,
        sentSince: 0,
        canvas: null,
        status: null,
    };
    window.depth3dCanvas = editor;

    function root() {
        return typeof gradioApp === "function" ? gradioApp() : document;
    }

    function textarea(id) {
        return root().querySelector("#" + id + " textarea");
    }

    function axisLetter(axis) {
        return axis ? axis.charAt(1) : null;
    }

    function vpColour(index) {
        var vps = editor.lines.vanishing_points;
        if (index < 2) return AXIS_COLOURS[axisLetter(vps[index].axis)] || "#ffffff";
        var used = [axisLetter(vps[0].axis), axisLetter(vps[1].axis)];
        var left = ["x", "y", "z"].filter(function (a) { return used.indexOf(a) < 0; });
        return AXIS_COLOURS[left[0]] || AXIS_COLOURS.z;
    }

    // ---- handles: every draggable point, addressed by a path into the lines JSON --------------

    function activeVpCount() {
        var lines = editor.lines;
        if (lines.mode === "one_vp") return 1;
        if (lines.principal_point && lines.principal_point.mode === "third_vp") return 3;
        return 2;
    }

    function handles() {
        var lines = editor.lines, list = [];
        if (!lines) return list;
        var count = activeVpCount();
        for (var v = 0; v < count && v < lines.vanishing_points.length; v++) {
            var segments = lines.vanishing_points[v].segments || [];
            for (var s = 0; s < segments.length; s++) {
                for (var e = 0; e < 2; e++) {
                    list.push({kind: "segment", vp: v, segment: s, end: e, point: segments[s][e],
                        label: "vanishing point " + (v + 1) + ", segment " + (s + 1) + ", end " + (e + 1)});
                }
            }
        }
        if (lines.mode === "one_vp" && lines.horizon) {
            list.push({kind: "horizon", end: 0, point: lines.horizon[0], label: "horizon, end 1"});
            list.push({kind: "horizon", end: 1, point: lines.horizon[1], label: "horizon, end 2"});
        }
        if (lines.origin) list.push({kind: "origin", point: lines.origin, label: "origin"});
        if (lines.principal_point && lines.principal_point.mode === "manual" && lines.principal_point.point) {
            list.push({kind: "principal", point: lines.principal_point.point, label: "principal point"});
        }
        if (lines.reference && lines.reference.handles) {
            list.push({kind: "reference", end: 0, point: lines.reference.handles[0], label: "reference distance, end 1"});
            list.push({kind: "reference", end: 1, point: lines.reference.handles[1], label: "reference distance, end 2"});
        }
        return list;
    }

    function sameHandle(a, b) {
        return !!a && !!b && a.kind === b.kind && a.vp === b.vp && a.segment === b.segment && a.end === b.end;
    }

    function setHandlePoint(handle, point) {
        var lines = editor.lines;
        if (handle.kind === "segment") lines.vanishing_points[handle.vp].segments[handle.segment][handle.end] = point;
        else if (handle.kind === "horizon") lines.horizon[handle.end] = point;
        else if (handle.kind === "origin") lines.origin = point;
        else if (handle.kind === "principal") lines.principal_point.point = point;
        else if (handle.kind === "reference") lines.reference.handles[handle.end] = point;
        handle.point = point;
    }

    // ---- view: picture pixels <-> canvas CSS pixels -------------------------------------------

    function fitView() {
        var canvas = editor.canvas, lines = editor.lines;
        if (!canvas || !lines) return;
        var width = canvas.clientWidth, height = canvas.clientHeight;
        var margin = 0.08;
        var scale = Math.min(width / (lines.image.width * (1 + 2 * margin)), height / (lines.image.height * (1 + 2 * margin)));
        editor.view = {
            scale: scale,
            offsetX: (width - lines.image.width * scale) / 2,
            offsetY: (height - lines.image.height * scale) / 2,
        };
    }

    function toCanvas(point) {
        var v = editor.view;
        return [point[0] * v.scale + v.offsetX, point[1] * v.scale + v.offsetY];
    }

    function toPicture(point) {
        var v = editor.view;
        return [(point[0] - v.offsetX) / v.scale, (point[1] - v.offsetY) / v.scale];
    }

    function zoomAt(canvasPoint, factor) {
        var v = editor.view;
        var scale = Math.max(0.02, Math.min(64, v.scale * factor));
        var picturePoint = toPicture(canvasPoint);
        v.scale = scale;
        v.offsetX = canvasPoint[0] - picturePoint[0] * scale;
        v.offsetY = canvasPoint[1] - picturePoint[1] * scale;
        draw();
    }

    // ---- drawing ------------------------------------------------------------------------------

    function line(ctx, a, b) {
        ctx.beginPath();
        ctx.moveTo(a[0], a[1]);
        ctx.lineTo(b[0], b[1]);
        ctx.stroke();
    }

    function circle(ctx, centre, radius, fill, stroke) {
        ctx.beginPath();
        ctx.arc(centre[0], centre[1], radius, 0, 2 * Math.PI);
        if (fill) { ctx.fillStyle = fill; ctx.fill(); }
        if (stroke) { ctx.strokeStyle = stroke; ctx.stroke(); }
    }

    function handleColour(handle) {
        if (handle.kind === "segment") return vpColour(handle.vp);
        if (handle.kind === "horizon") return "#fdd835";
        if (handle.kind === "reference") return "#ff9800";
        if (handle.kind === "principal") return "#ab47bc";
        return "#ffffff";
    }

    function drawOverlay(ctx) {
        var overlay = editor.overlay;
        if (!overlay) return;
        ctx.lineWidth = 1;
        ctx.strokeStyle = "rgba(255, 255, 255, 0.55)";
        (overlay.grid || []).forEach(function (polyline) {
            ctx.beginPath();
            polyline.forEach(function (p, i) {
                var c = toCanvas(p);
                if (i === 0) ctx.moveTo(c[0], c[1]); else ctx.lineTo(c[0], c[1]);
            });
            ctx.stroke();
        });
        ctx.lineWidth = 2.5;
        (overlay.axes || []).forEach(function (axis) {
            ctx.strokeStyle = AXIS_COLOURS[axis.axis] || "#ffffff";
            line(ctx, toCanvas(axis.from), toCanvas(axis.to));
        });
        if (overlay.horizon) {
            ctx.lineWidth = 1.5;
            ctx.setLineDash([8, 5]);
            ctx.strokeStyle = "#fdd835";
            line(ctx, toCanvas(overlay.horizon[0]), toCanvas(overlay.horizon[1]));
            ctx.setLineDash([]);
        }
    }

    function drawVanishingLines(ctx) {
        var report = editor.report;
        if (!report || !report.vanishingPointsPixels) return;
        ctx.lineWidth = 1;
        ctx.setLineDash([4, 4]);
        var count = activeVpCount();
        report.vanishingPointsPixels.forEach(function (vp, v) {
            if (!vp || v >= count || !editor.lines.vanishing_points[v]) return;
            var colour = vpColour(v), target = toCanvas(vp);
            ctx.strokeStyle = colour;
            (editor.lines.vanishing_points[v].segments || []).forEach(function (segment) {
                var a = toCanvas(segment[0]), b = toCanvas(segment[1]);
                var near = Math.hypot(a[0] - target[0], a[1] - target[1]) < Math.hypot(b[0] - target[0], b[1] - target[1]) ? a : b;
                line(ctx, near, target);
            });
            circle(ctx, target, 5, colour, "#000000");
        });
        ctx.setLineDash([]);
    }

    function drawHandles(ctx) {
        var lines = editor.lines, count = activeVpCount();
        ctx.lineWidth = 2;
        for (var v = 0; v < count && v < lines.vanishing_points.length; v++) {
            ctx.strokeStyle = vpColour(v);
            (lines.vanishing_points[v].segments || []).forEach(function (segment) {
                line(ctx, toCanvas(segment[0]), toCanvas(segment[1]));
            });
        }
        if (lines.mode === "one_vp" && lines.horizon) {
            ctx.strokeStyle = "#fdd835";
            line(ctx, toCanvas(lines.horizon[0]), toCanvas(lines.horizon[1]));
        }
        if (lines.reference && lines.reference.handles) {
            ctx.strokeStyle = "#ff9800";
            line(ctx, toCanvas(lines.reference.handles[0]), toCanvas(lines.reference.handles[1]));
        }
        handles().forEach(function (handle) {
            var c = toCanvas(handle.point);
            ctx.lineWidth = sameHandle(handle, editor.selected) ? 3 : 1.5;
            circle(ctx, c, HANDLE_RADIUS_PX, "rgba(0, 0, 0, 0.35)", handleColour(handle));
            if (handle.kind === "origin" || handle.kind === "principal") {
                ctx.strokeStyle = handleColour(handle);
                line(ctx, [c[0] - 10, c[1]], [c[0] + 10, c[1]]);
                line(ctx, [c[0], c[1] - 10], [c[0], c[1] + 10]);
            }
            if (sameHandle(handle, editor.selected)) circle(ctx, c, HANDLE_RADIUS_PX + 4, null, "#ffffff");
        });
    }

    function drawMagnifier(ctx) {
        if (!editor.drag || editor.drag.kind !== "handle" || !editor.image) return;
        var point = editor.drag.handle.point, centre = toCanvas(point);
        var r = MAGNIFIER.radiusPx, zoom = MAGNIFIER.zoom * editor.view.scale;
        var lensX = centre[0] > editor.canvas.clientWidth / 2 ? r + 10 : editor.canvas.clientWidth - r - 10;
        var lens = [lensX, r + 10];
        ctx.save();
        ctx.beginPath();
        ctx.arc(lens[0], lens[1], r, 0, 2 * Math.PI);
        ctx.clip();
        ctx.fillStyle = "#000000";
        ctx.fillRect(lens[0] - r, lens[1] - r, 2 * r, 2 * r);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(editor.image, lens[0] - point[0] * zoom, lens[1] - point[1] * zoom,
            editor.lines.image.width * zoom, editor.lines.image.height * zoom);
        ctx.strokeStyle = handleColour(editor.drag.handle);
        ctx.lineWidth = 1;
        line(ctx, [lens[0] - r, lens[1]], [lens[0] + r, lens[1]]);
        line(ctx, [lens[0], lens[1] - r], [lens[0], lens[1] + r]);
        ctx.restore();
        ctx.lineWidth = 2;
        circle(ctx, lens, r, null, "#ffffff");
    }

    function draw() {
        var canvas = editor.canvas;
        if (!canvas) return;
        var ratio = window.devicePixelRatio || 1;
        var width = canvas.clientWidth, height = canvas.clientHeight;
        if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
            canvas.width = Math.round(width * ratio);
            canvas.height = Math.round(height * ratio);
        }
        var ctx = canvas.getContext("2d");
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.fillStyle = "#202124";
        ctx.fillRect(0, 0, width, height);
        if (!editor.lines) {
            ctx.fillStyle = "#bbbbbb";
            ctx.font = "15px sans-serif";
            ctx.textAlign = "center";
            ctx.fillText("Upload a picture or load an .fspy project to draw its vanishing lines.", width / 2, height / 2);
            return;
        }
        if (!editor.view) fitView();
        var v = editor.view;
        if (editor.image) {
            ctx.imageSmoothingEnabled = v.scale < 2;
            ctx.drawImage(editor.image, v.offsetX, v.offsetY, editor.lines.image.width * v.scale, editor.lines.image.height * v.scale);
        }
        drawOverlay(ctx);
        drawVanishingLines(ctx);
        drawHandles(ctx);
        drawMagnifier(ctx);
        canvas.dataset.scale = v.scale.toFixed(6);
        canvas.dataset.offsetX = v.offsetX.toFixed(3);
        canvas.dataset.offsetY = v.offsetY.toFixed(3);
    }

    // ---- talking to Python ----------------------------------------------------------------------

    function round3(value) {
        return Math.round(value * 1000) / 1000;
    }

    function publish() {
        var box = textarea("depth3d_lines");
        if (!box || !editor.lines) return;
        box.value = JSON.stringify(editor.lines, function (key, value) {
            return typeof value === "number" ? round3(value) : value;
        });
        if (typeof updateInput === "function") updateInput(box);
    }

    function loadImage(url) {
        if (!url || url === editor.imageUrl) return;
        editor.imageUrl = url;
        var image = new Image();
        image.onload = function () {
            if (editor.imageUrl === url) { editor.image = image; draw(); }
        };
        image.src = url;
    }

    function receiveCanvasState(text) {
        // The text holds the picture as a data URL: compare before parsing it again.
        if (text === editor.seenCanvasText) return;
        editor.seenCanvasText = text;
        var message;
        try { message = JSON.parse(text); } catch (err) { return; }
        if (!message || message.serial === editor.seenSerial) return;
        editor.seenSerial = message.serial;
        var pictureChanged = !editor.lines || !message.lines ||
            message.lines.image.width !== editor.lines.image.width ||
            message.lines.image.height !== editor.lines.image.height ||
            message.image_url !== editor.imageUrl;
        editor.lines = message.lines || null;
        if (message.image_url) loadImage(message.image_url);
        if (pictureChanged) {
            editor.view = null;
            editor.selected = null;
            editor.report = null;
            editor.overlay = null;
        }
        draw();
    }

    function receiveReport(text) {
        if (text === editor.seenReport) return;
        editor.seenReport = text;
        var message = null;
        try { message = text ? JSON.parse(text) : null; } catch (err) { message = null; }
        editor.solvedLines = message && typeof message.lines === "string" ? message.lines : null;
        editor.report = message && message.report ? message.report : null;
        editor.overlay = message && message.overlay ? message.overlay : null;
        editor.error = message && message.error ? message.error : null;
        draw();
    }

    // gradio 3 can drop a change of the lines box that arrives while the previous solve is still
    // being finished; the report then stays on older lines. Lines that stay unsolved this long
    // are sent again, so the last edit is always the one solved. gradio only reacts to a new
    // value, so the resent text toggles a trailing space (the same JSON to Python).
    var RESEND_UNSOLVED_MS = 1500;

    function resendUnsolvedLines() {
        var box = textarea("depth3d_lines");
        if (!box || !box.value || editor.solvedLines === null) return;
        if (box.value !== editor.sentLines) {
            editor.sentLines = box.value;
            editor.sentSince = Date.now();
            return;
        }
        if (box.value === editor.solvedLines || Date.now() - editor.sentSince < RESEND_UNSOLVED_MS) return;
        box.value = box.value.endsWith(" ") ? box.value.trimEnd() : box.value + " ";
        editor.sentLines = box.value;
        editor.sentSince = Date.now();
        if (typeof updateInput === "function") updateInput(box);
    }

    function poll() {
        var toCanvasBox = textarea("depth3d_to_canvas");
        if (toCanvasBox && toCanvasBox.value) receiveCanvasState(toCanvasBox.value);
        var reportBox = textarea("depth3d_report");
        if (reportBox) receiveReport(reportBox.value);
        resendUnsolvedLines();
    }

    // ---- editing --------------------------------------------------------------------------------

    function announce(text) {
        if (editor.status) editor.status.textContent = text;
    }

    function hitHandle(canvasPoint) {
        var best = null, bestDistance = HANDLE_RADIUS_PX + 4;
        handles().forEach(function (handle) {
            var c = toCanvas(handle.point);
            var distance = Math.hypot(c[0] - canvasPoint[0], c[1] - canvasPoint[1]);
            if (distance <= bestDistance) { best = handle; bestDistance = distance; }
        });
        return best;
    }

    function select(handle) {
        editor.selected = handle;
        if (handle) {
            announce("Selected " + handle.label + " at " + handle.point[0].toFixed(1) + ", " + handle.point[1].toFixed(1) + " px");
        }
        draw();
    }

    function addSegment(vpIndex) {
        var lines = editor.lines;
        if (!lines || !lines.vanishing_points[vpIndex]) return;
        var segments = lines.vanishing_points[vpIndex].segments || (lines.vanishing_points[vpIndex].segments = []);
        var w = lines.image.width, h = lines.image.height;
        var last = segments[segments.length - 1];
        var offset = 0.06 * h;
        var segment = last
            ? [[last[0][0], Math.min(h, last[0][1] + offset)], [last[1][0], Math.min(h, last[1][1] + offset)]]
            : [[0.3 * w, 0.5 * h], [0.6 * w, 0.5 * h]];
        segments.push(segment);
        select({kind: "segment", vp: vpIndex, segment: segments.length - 1, end: 0, point: segment[0],
            label: "vanishing point " + (vpIndex + 1) + ", segment " + segments.length + ", end 1"});
        publish();
    }

    function removeSelectedSegment() {
        var handle = editor.selected;
        if (!handle || handle.kind !== "segment") return;
        var segments = editor.lines.vanishing_points[handle.vp].segments;
        if (segments.length <= MIN_SEGMENTS) {
            announce("A vanishing point needs at least " + MIN_SEGMENTS + " segments.");
            return;
        }
        segments.splice(handle.segment, 1);
        select(null);
        announce("Removed segment " + (handle.segment + 1) + " of vanishing point " + (handle.vp + 1) + ".");
        publish();
    }

    function eventPoint(event) {
        var rect = editor.canvas.getBoundingClientRect();
        return [event.clientX - rect.left, event.clientY - rect.top];
    }

    function onPointerDown(event) {
        if (!editor.lines || event.button !== 0) return;
        editor.canvas.focus();
        var point = eventPoint(event);
        var handle = hitHandle(point);
        editor.canvas.setPointerCapture(event.pointerId);
        if (handle) {
            select(handle);
            var c = toCanvas(handle.point);
            editor.drag = {kind: "handle", handle: handle, grab: [c[0] - point[0], c[1] - point[1]]};
        } else {
            editor.drag = {kind: "pan", start: point, offsetX: editor.view.offsetX, offsetY: editor.view.offsetY};
        }
        event.preventDefault();
    }

    function onPointerMove(event) {
        var drag = editor.drag;
        if (!drag) return;
        var point = eventPoint(event);
        if (drag.kind === "handle") {
            setHandlePoint(drag.handle, toPicture([point[0] + drag.grab[0], point[1] + drag.grab[1]]));
        } else {
            editor.view.offsetX = drag.offsetX + point[0] - drag.start[0];
            editor.view.offsetY = drag.offsetY + point[1] - drag.start[1];
        }
        draw();
    }

    function onPointerUp(event) {
        var drag = editor.drag;
        if (!drag) return;
        editor.drag = null;
        if (editor.canvas.hasPointerCapture(event.pointerId)) editor.canvas.releasePointerCapture(event.pointerId);
        draw();
        if (drag.kind === "handle") {
            select(drag.handle);
            publish();
        }
    }

    function onWheel(event) {
        if (!editor.lines) return;
        event.preventDefault();
        zoomAt(eventPoint(event), Math.exp(-event.deltaY * 0.0015));
    }

    function onKeyDown(event) {
        if (!editor.lines) return;
        var list = handles();
        var index = -1;
        list.forEach(function (handle, i) { if (sameHandle(handle, editor.selected)) index = i; });
        var centre = [editor.canvas.clientWidth / 2, editor.canvas.clientHeight / 2];
        var step = event.shiftKey ? 10 : event.altKey ? 0.1 : 1;
        var moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]};
        if (event.key === "Tab") {
            var next = index + (event.shiftKey ? -1 : 1);
            if (index < 0 && event.shiftKey) next = list.length - 1;
            if (next < 0 || next >= list.length) { select(null); return; }
            select(list[next]);
        } else if (moves[event.key] && editor.selected) {
            var move = moves[event.key];
            setHandlePoint(editor.selected, [editor.selected.point[0] + move[0], editor.selected.point[1] + move[1]]);
            select(editor.selected);
            publish();
        } else if (event.key === "Delete" || event.key === "Backspace") {
            removeSelectedSegment();
        } else if (event.key === "+" || event.key === "=") {
            zoomAt(centre, 1.25);
        } else if (event.key === "-" || event.key === "_") {
            zoomAt(centre, 0.8);
        } else if (event.key === "0") {
            fitView();
            draw();
        } else if (event.key === "Escape") {
            select(null);
        } else {
            return;
        }
        event.preventDefault();
    }

    // ---- attaching (again after every gradio re-render) ---------------------------------------

    function toolbarButton(label, title, action) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.title = title;
        button.className = "depth3d-tool";
        button.addEventListener("click", function () { action(); if (editor.canvas) editor.canvas.focus(); });
        return button;
    }

    function attach() {
        var host = root().querySelector("#depth3d_canvas_host");
        if (!host || host.querySelector("canvas.depth3d-canvas")) return;
        host.innerHTML = "";
        var toolbar = document.createElement("div");
        toolbar.className = "depth3d-toolbar";
        toolbar.appendChild(toolbarButton("+ segment VP 1", "Add a segment to the first vanishing point", function () { addSegment(0); }));
        toolbar.appendChild(toolbarButton("+ segment VP 2", "Add a segment to the second vanishing point", function () { addSegment(1); }));
        toolbar.appendChild(toolbarButton("+ segment VP 3", "Add a segment to the third vanishing point (principal point from three VPs)", function () { addSegment(2); }));
        toolbar.appendChild(toolbarButton("Remove segment", "Remove the selected segment (Delete)", removeSelectedSegment));
        toolbar.appendChild(toolbarButton("Fit", "Fit the picture in the view (0)", function () { fitView(); draw(); }));
        var canvas = document.createElement("canvas");
        canvas.className = "depth3d-canvas";
        canvas.tabIndex = 0;
        canvas.setAttribute("role", "application");
        canvas.setAttribute("aria-label",
            "Vanishing-line editor. Tab selects the next handle, arrow keys move it (Shift: 10 px, Alt: 0.1 px), " +
            "Delete removes its segment, + and - zoom, 0 fits the picture; drag with the mouse to move handles or pan.");
        var status = document.createElement("div");
        status.className = "depth3d-canvas-status";
        status.setAttribute("aria-live", "polite");
        host.appendChild(toolbar);
        host.appendChild(canvas);
        host.appendChild(status);
        canvas.addEventListener("pointerdown", onPointerDown);
        canvas.addEventListener("pointermove", onPointerMove);
        canvas.addEventListener("pointerup", onPointerUp);
        canvas.addEventListener("pointercancel", onPointerUp);
        canvas.addEventListener("wheel", onWheel, {passive: false});
        canvas.addEventListener("keydown", onKeyDown);
        editor.canvas = canvas;
        editor.status = status;
        if (!editor.lines) {
            var box = textarea("depth3d_to_canvas");
            if (box && box.value) receiveCanvasState(box.value);
        }
        if (typeof ResizeObserver === "function") {
            new ResizeObserver(function () { draw(); }).observe(canvas);
        }
        draw();
    }

    // ---- "send to" buttons ----------------------------------------------------------------------

    function dataUrlFile(url, name) {
        return fetch(url).then(function (response) { return response.blob(); }).then(function (blob) {
            return new File([blob], name, {type: blob.type || "image/png"});
        });
    }

    function setFileInput(input, file) {
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
        input.dispatchEvent(new Event("change", {bubbles: true}));
    }

    function selectedGalleryImage(tabName) {
        var gallery = root().querySelector("#" + tabName + "_gallery");
        if (!gallery) return null;
        return gallery.querySelector(".thumbnail-item.selected img") || gallery.querySelector("img");
    }

    function openTab(label) {
        var buttons = root().querySelectorAll("#tabs > .tab-nav > button, #tabs > div > button");
        for (var i = 0; i < buttons.length; i++) {
            if (buttons[i].textContent.trim() === label) { buttons[i].click(); return; }
        }
    }

    function sendGalleryToDepth3d(tabName) {
        var image = selectedGalleryImage(tabName);
        var input = root().querySelector("#depth3d_input input[type=file]");
        if (!image || !input) return;
        dataUrlFile(image.src, "picture.png").then(function (file) {
            setFileInput(input, file);
            openTab("Depth 3D");
        });
    }

    // The WebUI's own send buttons (A1111 1.x and Forge build them as ToolButtons inside the row's
    // form group), the last one first: ours goes after it.
    var WEBUI_SEND_BUTTONS = ["_send_to_extras", "_send_to_inpaint", "_send_to_img2img"];

    function lastSendButton(tabName) {
        for (var i = 0; i < WEBUI_SEND_BUTTONS.length; i++) {
            var found = root().querySelector("#" + tabName + WEBUI_SEND_BUTTONS[i]);
            if (found) return found;
        }
        var tools = root().querySelectorAll("#image_buttons_" + tabName + " .tool");
        return tools.length ? tools[tools.length - 1] : null;
    }

    // A copy of the WebUI's own button carries gradio's generated classes (they differ between
    // gradio 3 and 4), so it looks like its neighbours; an icon, as theirs, keeps it one line high.
    function addSendButtons() {
        ["txt2img", "img2img"].forEach(function (tabName) {
            if (root().querySelector("#" + tabName + "_send_to_depth3d")) return;
            var neighbour = lastSendButton(tabName);
            if (!neighbour) return;
            var button = neighbour.cloneNode(false);
            button.id = tabName + "_send_to_depth3d";
            button.type = "button";
            button.textContent = "\uD83E\uDDCA";  // ice cube: the picture as a 3D scene
            button.title = "Send image to the Depth 3D tab (vanishing lines, depth and the 3D scene).";
            button.setAttribute("aria-label", "Send to Depth 3D");
            button.classList.add("depth3d-send");
            button.addEventListener("click", function () { sendGalleryToDepth3d(tabName); });
            neighbour.insertAdjacentElement("afterend", button);
        });
    }

    // Called from the tab's "Send to img2img inpaint" button: the picture and the depth mask go to
    // A1111's "Inpaint upload" tab.
    window.depth3dSendToInpaint = function (maskValue) {
        // gradio 3 passes the image as a data URL, gradio 4 (Forge) as {url: ...}.
        var maskUrl = maskValue && maskValue.url ? maskValue.url : maskValue;
        var base = root().querySelector("#img_inpaint_base input[type=file]");
        var mask = root().querySelector("#img_inpaint_mask input[type=file]");
        if (!base || !mask || !editor.imageUrl || !maskUrl) return [];
        Promise.all([dataUrlFile(editor.imageUrl, "picture.png"), dataUrlFile(maskUrl, "mask.png")]).then(function (files) {
            setFileInput(base, files[0]);
            setFileInput(mask, files[1]);
            if (typeof switch_to_img2img_tab === "function") switch_to_img2img_tab(4);
        });
        return [];
    };

    function onUpdate() {
        attach();
        addSendButtons();
        poll();
    }

    if (typeof onUiLoaded === "function") onUiLoaded(onUpdate);
    if (typeof onUiUpdate === "function") onUiUpdate(onUpdate);
    // Python's answers arrive by value, which changes no DOM node: look for them a few times a second.
    setInterval(poll, 200);
})();
