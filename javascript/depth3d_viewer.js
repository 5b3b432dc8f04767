// Depth 3D tab: the built scene's viewer, which starts at the picture's own camera.
//
// Plain script (A1111 injects every javascript/*.js into its page), plain WebGL: no library, no
// build step, no CDN. gradio's Model3D cannot start at a glTF camera, so the tab hands the .glb to
// this viewer instead: the hidden file component #depth3d_model holds the built file and gradio
// serves it at the link it renders there. The viewer reads that .glb (docs/scene.md), shows it
// through its camera node (so the first frame is the picture), lets the user walk in and plays
// the file's camera move. State lives in window.depth3dViewer; it attaches again on every
// onUiUpdate. The scene's shareable page (lib_depth3d/scene/page.py) inlines this very file and
// calls window.depth3dViewer.attach() and .open(bytes) itself.

(function () {
    "use strict";

    var GLB_MAGIC = 0x46546C67;
    var JSON_CHUNK = 0x4E4F534A;
    var BIN_CHUNK = 0x004E4942;
    var COMPONENT_TYPES = {5120: Int8Array, 5121: Uint8Array, 5122: Int16Array, 5123: Uint16Array,
        5125: Uint32Array, 5126: Float32Array};
    var COMPONENT_COUNTS = {SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4, MAT2: 4, MAT3: 9, MAT4: 16};
    var TRIANGLES = 4;
    var WALK_STEP_OF_DISTANCE = 0.05;
    var ORBIT_RADIANS_PER_PX = 0.006;
    var MIN_UP_Y = 0.05;  // the view's up vector may not drop below this (about 3° short of vertical)
    var NO_WEBGL = "Your browser has no WebGL; download the .glb and open it in Blender.";
    var HINT = "Drag: orbit · Shift+drag or right-drag: look around · wheel or W/S: walk · " +
        "A/D: step sideways · R: back to the picture";
    var MOVE_HINT = " · P: play the camera move";

    var viewer = {
        url: null,
        seenLink: null,
        scene: null,
        gl: null,
        drawables: [],
        view: null,
        frames: 0,
        error: null,
        canvas: null,
        message: null,
        loadToken: 0,
        renderPending: false,
        playing: null,
        playButton: null,
    };
    window.depth3dViewer = viewer;

    function root() {
        return typeof gradioApp === "function" ? gradioApp() : document;
    }

    // ---- small vector and matrix helpers (column-major 4×4, as glTF and WebGL) ------------------

    function multiply(a, b) {
        var out = new Float64Array(16);
        for (var column = 0; column < 4; column++) {
            for (var row = 0; row < 4; row++) {
                var sum = 0;
                for (var k = 0; k < 4; k++) sum += a[k * 4 + row] * b[column * 4 + k];
                out[column * 4 + row] = sum;
            }
        }
        return out;
    }

    function identity() {
        return new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    }

    function fromTrs(translation, rotation, scale) {
        var t = translation || [0, 0, 0], q = rotation || [0, 0, 0, 1], s = scale || [1, 1, 1];
        var x = q[0], y = q[1], z = q[2], w = q[3];
        return new Float64Array([
            (1 - 2 * (y * y + z * z)) * s[0], (2 * (x * y + z * w)) * s[0], (2 * (x * z - y * w)) * s[0], 0,
            (2 * (x * y - z * w)) * s[1], (1 - 2 * (x * x + z * z)) * s[1], (2 * (y * z + x * w)) * s[1], 0,
            (2 * (x * z + y * w)) * s[2], (2 * (y * z - x * w)) * s[2], (1 - 2 * (x * x + y * y)) * s[2], 0,
            t[0], t[1], t[2], 1,
        ]);
    }

    function column(matrix, index) {
        return [matrix[index * 4], matrix[index * 4 + 1], matrix[index * 4 + 2]];
    }

    function add(a, b, scale) {
        return [a[0] + b[0] * scale, a[1] + b[1] * scale, a[2] + b[2] * scale];
    }

    function dot(a, b) {
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    }

    function normalised(v) {
        var length = Math.sqrt(dot(v, v));
        return [v[0] / length, v[1] / length, v[2] / length];
    }

    // Rodrigues' rotation of v about the unit axis by angle radians.
    function rotate(v, axis, angle) {
        var c = Math.cos(angle), s = Math.sin(angle), d = dot(axis, v) * (1 - c);
        return [
            v[0] * c + (axis[1] * v[2] - axis[2] * v[1]) * s + axis[0] * d,
            v[1] * c + (axis[2] * v[0] - axis[0] * v[2]) * s + axis[1] * d,
            v[2] * c + (axis[0] * v[1] - axis[1] * v[0]) * s + axis[2] * d,
        ];
    }

    // ---- GLB parsing ------------------------------------------------------------------------------

    function readAccessor(gltf, bin, index) {
        var accessor = (gltf.accessors || [])[index];
        if (!accessor) throw new Error("accessor " + index + " is missing");
        if (accessor.sparse) throw new Error("sparse accessors are not supported");
        var Type = COMPONENT_TYPES[accessor.componentType];
        var components = COMPONENT_COUNTS[accessor.type];
        if (!Type || !components) throw new Error("accessor " + index + " has an unknown type");
        var view = (gltf.bufferViews || [])[accessor.bufferView];
        if (!view) throw new Error("accessor " + index + " has no buffer view");
        if (view.buffer !== 0 || !bin) throw new Error("only data inside the .glb's binary chunk is supported");
        var elementBytes = components * Type.BYTES_PER_ELEMENT;
        var stride = view.byteStride || elementBytes;
        var start = (view.byteOffset || 0) + (accessor.byteOffset || 0);
        var end = accessor.count ? start + stride * (accessor.count - 1) + elementBytes : start;
        if (end > (view.byteOffset || 0) + view.byteLength || end > bin.byteLength) {
            throw new Error("accessor " + index + " reaches past its buffer view");
        }
        var values = new Type(accessor.count * components);
        var bytes = new Uint8Array(values.buffer);
        if (stride === elementBytes) {
            bytes.set(bin.subarray(start, start + values.byteLength));
        } else {
            for (var i = 0; i < accessor.count; i++) {
                bytes.set(bin.subarray(start + i * stride, start + i * stride + elementBytes), i * elementBytes);
            }
        }
        if (!accessor.normalized || Type === Float32Array) return values;
        var largest = Math.pow(2, 8 * Type.BYTES_PER_ELEMENT - (Type === Int8Array || Type === Int16Array ? 1 : 0)) - 1;
        return Float32Array.from(values, function (value) { return Math.max(value / largest, -1); });
    }

    function nodeMatrix(node) {
        return node.matrix ? new Float64Array(node.matrix) : fromTrs(node.translation, node.rotation, node.scale);
    }

    // Every node of the default scene with its world matrix, parents before children.
    function worldNodes(gltf) {
        var nodes = gltf.nodes || [];
        var sceneIndex = gltf.scene === undefined ? 0 : gltf.scene;
        var roots = gltf.scenes && gltf.scenes[sceneIndex] ? gltf.scenes[sceneIndex].nodes || [] :
            nodes.map(function (_, i) { return i; });
        var placed = [], visiting = {};
        function visit(index, parentMatrix) {
            if (visiting[index] || !nodes[index]) throw new Error("the node tree refers to node " + index + " wrongly");
            visiting[index] = true;
            var matrix = multiply(parentMatrix, nodeMatrix(nodes[index]));
            placed.push({index: index, node: nodes[index], matrix: matrix, parentMatrix: parentMatrix});
            (nodes[index].children || []).forEach(function (child) { visit(child, matrix); });
            visiting[index] = false;
        }
        roots.forEach(function (index) { visit(index, identity()); });
        return placed;
    }

    function baseColour(gltf, bin, materialIndex) {
        var material = (gltf.materials || [])[materialIndex] || {};
        var pbr = material.pbrMetallicRoughness || {};
        var colour = {factor: pbr.baseColorFactor || [1, 1, 1, 1], image: null, sampler: {}};
        if (!pbr.baseColorTexture) return colour;
        var texture = (gltf.textures || [])[pbr.baseColorTexture.index] || {};
        var image = (gltf.images || [])[texture.source];
        if (!image || image.bufferView === undefined) throw new Error("the picture is not embedded in the .glb");
        var view = gltf.bufferViews[image.bufferView];
        var offset = view.byteOffset || 0;
        colour.image = new Blob([bin.subarray(offset, offset + view.byteLength)], {type: image.mimeType || "image/png"});
        colour.sampler = (gltf.samplers || [])[texture.sampler] || {};
        return colour;
    }

    // The frustum through which the camera sees the picture, as tangents at distance 1 (left,
    // right, bottom, top) and the picture's aspect. An off-centre principal point (docs/scene.md)
    // makes the file's frustum symmetric and wider; its extras give back the exact picture frustum.
    function pictureLens(camera) {
        var extras = (camera.extras || {}).depth3d;
        if (extras && extras.picture_size_px && extras.focal_length_px && extras.principal_point_px) {
            var w = extras.picture_size_px[0], h = extras.picture_size_px[1];
            var f = extras.focal_length_px, cx = extras.principal_point_px[0], cy = extras.principal_point_px[1];
            return {left: -cx / f, right: (w - cx) / f, bottom: -(h - cy) / f, top: cy / f, aspect: w / h};
        }
        var perspective = camera.perspective || {};
        var halfHeight = Math.tan((perspective.yfov || 0.8) / 2);
        var aspect = perspective.aspectRatio || 4 / 3;
        return {left: -halfHeight * aspect, right: halfHeight * aspect, bottom: -halfHeight, top: halfHeight,
            aspect: aspect};
    }

    function cameraOf(gltf, placed, bounds) {
        var holder = placed.filter(function (entry) { return entry.node.camera !== undefined; })[0];
        var camera = holder ? (gltf.cameras || [])[holder.node.camera] : null;
        if (camera && camera.type === "perspective") {
            var perspective = camera.perspective || {};
            return {
                position: column(holder.matrix, 3),
                right: normalised(column(holder.matrix, 0)),
                up: normalised(column(holder.matrix, 1)),
                back: normalised(column(holder.matrix, 2)),
                lens: pictureLens(camera),
                znear: perspective.znear,
                zfar: perspective.zfar || perspective.znear * 1e5,
                fromFile: true,
            };
        }
        // No perspective camera: look at the mesh from in front, along −z, as glTF's default view.
        var centre = [0, 1, 2].map(function (i) { return (bounds.min[i] + bounds.max[i]) / 2; });
        var radius = Math.max(1e-6, Math.sqrt(dot(add(bounds.max, bounds.min, -1), add(bounds.max, bounds.min, -1))) / 2);
        var distance = radius / Math.tan(0.4) + radius;
        return {
            position: add(centre, [0, 0, 1], distance), right: [1, 0, 0], up: [0, 1, 0], back: [0, 0, 1],
            lens: pictureLens({perspective: {yfov: 0.8, aspectRatio: 4 / 3}}),
            znear: distance / 1000, zfar: distance * 10, fromFile: false,
        };
    }

    // Spherical interpolation of unit quaternions a → b by fraction f, along the shorter arc.
    function slerp(a, b, f) {
        var cosine = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3], sign = cosine < 0 ? -1 : 1;
        cosine *= sign;
        var wa = 1 - f, wb = f * sign;
        if (cosine < 0.9995) {
            var angle = Math.acos(cosine), sine = Math.sin(angle);
            wa = Math.sin((1 - f) * angle) / sine;
            wb = sign * Math.sin(f * angle) / sine;
        }
        var q = [0, 1, 2, 3].map(function (i) { return a[i] * wa + b[i] * wb; });
        var length = Math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        return q.map(function (value) { return value / length; });
    }

    // One animation channel as a function of time in seconds (clamped to its keys). A cubic
    // spline is followed through its keyframe values, linearly.
    function channelSampler(gltf, bin, sampler, width) {
        var times = readAccessor(gltf, bin, sampler.input);
        var values = readAccessor(gltf, bin, sampler.output);
        var cubic = sampler.interpolation === "CUBICSPLINE", step = sampler.interpolation === "STEP";
        function key(index) {
            var start = (cubic ? 3 * index + 1 : index) * width;
            return Array.prototype.slice.call(values, start, start + width);
        }
        return {
            duration: times.length ? times[times.length - 1] : 0,
            at: function (seconds) {
                var next = 0;
                while (next < times.length && times[next] <= seconds) next++;
                if (next === 0) return key(0);
                if (next === times.length || step) return key(next - 1);
                var f = (seconds - times[next - 1]) / (times[next] - times[next - 1]);
                var a = key(next - 1), b = key(next);
                if (width === 4) return slerp(a, b, f);
                return a.map(function (value, i) { return value + (b[i] - value) * f; });
            },
        };
    }

    // The first animation that moves the camera's node, as its world matrix over time; null when none does.
    function cameraMoveOf(gltf, bin, placed) {
        var holder = placed.filter(function (entry) { return entry.node.camera !== undefined; })[0];
        if (!holder) return null;
        var widths = {translation: 3, rotation: 4, scale: 3};
        var animations = gltf.animations || [];
        for (var a = 0; a < animations.length; a++) {
            var channels = {}, duration = 0, found = false;
            (animations[a].channels || []).forEach(function (channel) {
                var target = channel.target || {};
                if (target.node !== holder.index || !widths[target.path]) return;
                var sampler = channelSampler(gltf, bin, animations[a].samplers[channel.sampler], widths[target.path]);
                channels[target.path] = sampler;
                duration = Math.max(duration, sampler.duration);
                found = true;
            });
            if (!found) continue;
            return {
                name: animations[a].name || "camera move",
                duration: duration,
                matrixAt: function (seconds) {
                    var node = holder.node;
                    function value(path, fallback) {
                        return channels[path] ? channels[path].at(seconds) : fallback;
                    }
                    return multiply(holder.parentMatrix, fromTrs(value("translation", node.translation),
                        value("rotation", node.rotation), value("scale", node.scale)));
                },
            };
        }
        return null;
    }

    function transformedBounds(positions, matrix, bounds) {
        for (var i = 0; i < positions.length; i += 3) {
            for (var axis = 0; axis < 3; axis++) {
                var value = matrix[axis] * positions[i] + matrix[4 + axis] * positions[i + 1] +
                    matrix[8 + axis] * positions[i + 2] + matrix[12 + axis];
                if (value < bounds.min[axis]) bounds.min[axis] = value;
                if (value > bounds.max[axis]) bounds.max[axis] = value;
            }
        }
    }

    /**
     * Parse a binary glTF (.glb) into what the viewer draws.
     * @param {ArrayBuffer} buffer the file's bytes
     * @returns {{primitives: Array, camera: Object, bounds: Object, cameraMove: Object, units: string}}
     *   primitives hold world matrix, positions, uvs, indices (or null) and base colour (factor,
     *   image Blob, sampler); camera holds position, right/up/back axes, lens tangents, znear,
     *   zfar; cameraMove (null without one) holds name, duration in seconds and matrixAt(seconds).
     * @throws {Error} with a sentence saying what in the file is wrong.
     */
    function parseGlb(buffer) {
        if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 20) throw new Error("the file is too short to be a .glb");
        var header = new DataView(buffer);
        if (header.getUint32(0, true) !== GLB_MAGIC) throw new Error("the file is not a binary glTF (.glb)");
        if (header.getUint32(4, true) !== 2) throw new Error("only glTF 2.0 files are supported");
        var gltf = null, bin = null, offset = 12;
        var length = Math.min(header.getUint32(8, true), buffer.byteLength);
        while (offset + 8 <= length) {
            var chunkLength = header.getUint32(offset, true), chunkType = header.getUint32(offset + 4, true);
            if (offset + 8 + chunkLength > length) throw new Error("the .glb is cut short");
            var chunk = new Uint8Array(buffer, offset + 8, chunkLength);
            if (chunkType === JSON_CHUNK) gltf = JSON.parse(new TextDecoder().decode(chunk));
            else if (chunkType === BIN_CHUNK && !bin) bin = chunk;
            offset += 8 + chunkLength;
        }
        if (!gltf) throw new Error("the .glb has no JSON chunk");
        var placed = worldNodes(gltf);
        var primitives = [];
        var bounds = {min: [Infinity, Infinity, Infinity], max: [-Infinity, -Infinity, -Infinity]};
        placed.forEach(function (entry) {
            if (entry.node.mesh === undefined) return;
            var mesh = (gltf.meshes || [])[entry.node.mesh];
            if (!mesh) throw new Error("node " + entry.index + " refers to a missing mesh");
            mesh.primitives.forEach(function (primitive) {
                if ((primitive.mode === undefined ? TRIANGLES : primitive.mode) !== TRIANGLES) return;
                if (primitive.attributes.POSITION === undefined) throw new Error("a mesh has no POSITION");
                var positions = readAccessor(gltf, bin, primitive.attributes.POSITION);
                transformedBounds(positions, entry.matrix, bounds);
                primitives.push({
                    matrix: entry.matrix,
                    positions: positions,
                    uvs: primitive.attributes.TEXCOORD_0 === undefined ? null : readAccessor(gltf, bin, primitive.attributes.TEXCOORD_0),
                    indices: primitive.indices === undefined ? null : readAccessor(gltf, bin, primitive.indices),
                    colour: baseColour(gltf, bin, primitive.material),
                });
            });
        });
        if (!primitives.length) throw new Error("the .glb holds no triangle mesh");
        var extras = ((gltf.asset || {}).extras || {}).depth3d || {};
        return {primitives: primitives, camera: cameraOf(gltf, placed, bounds), bounds: bounds,
            cameraMove: cameraMoveOf(gltf, bin, placed), units: extras.units || "scene units"};
    }

    // ---- WebGL ------------------------------------------------------------------------------------

    var VERTEX_SHADER = [
        "attribute vec3 position;",
        "attribute vec2 uv;",
        "uniform mat4 modelViewProjection;",
        "varying vec2 textureUv;",
        "void main() {",
        "    textureUv = uv;",
        "    gl_Position = modelViewProjection * vec4(position, 1.0);",
        "}",
    ].join("\n");

    // Unlit (KHR_materials_unlit): the picture's own colours, untouched; the picture is opaque.
    var FRAGMENT_SHADER = [
        "precision highp float;",
        "uniform sampler2D picture;",
        "uniform vec4 factor;",
        "varying vec2 textureUv;",
        "void main() {",
        "    gl_FragColor = vec4((texture2D(picture, textureUv) * factor).rgb, 1.0);",
        "}",
    ].join("\n");

    function compile(gl, type, source) {
        var shader = gl.createShader(type);
        gl.shaderSource(shader, source);
        gl.compileShader(shader);
        if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error("shader: " + gl.getShaderInfoLog(shader));
        return shader;
    }

    function createContext(canvas) {
        var options = {antialias: false, alpha: true, depth: true, preserveDrawingBuffer: true, premultipliedAlpha: true};
        var gl = canvas.getContext("webgl2", options);
        var version = 2;
        if (!gl) {
            gl = canvas.getContext("webgl", options) || canvas.getContext("experimental-webgl", options);
            version = 1;
        }
        if (!gl) return null;
        var program = gl.createProgram();
        gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX_SHADER));
        gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
        gl.linkProgram(program);
        if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error("shader: " + gl.getProgramInfoLog(program));
        return {
            gl: gl, version: version, program: program,
            uintIndices: version === 2 || !!gl.getExtension("OES_element_index_uint"),
            position: gl.getAttribLocation(program, "position"),
            uv: gl.getAttribLocation(program, "uv"),
            modelViewProjection: gl.getUniformLocation(program, "modelViewProjection"),
            factor: gl.getUniformLocation(program, "factor"),
            picture: gl.getUniformLocation(program, "picture"),
        };
    }

    function arrayBuffer(gl, target, data) {
        var buffer = gl.createBuffer();
        gl.bindBuffer(target, buffer);
        gl.bufferData(target, data, gl.STATIC_DRAW);
        return buffer;
    }

    function isPowerOfTwo(n) {
        return n > 0 && (n & (n - 1)) === 0;
    }

    function uploadTexture(context, image, sampler) {
        var gl = context.gl;
        var texture = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, texture);
        // glTF's UV origin is the picture's top-left corner, which is WebGL's first row unflipped.
        gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
        gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
        gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
        // A primitive without a picture samples one white texel, so its base colour factor shows.
        if (image) gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, image);
        else gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array([255, 255, 255, 255]));
        var width = image ? image.naturalWidth || image.width : 1, height = image ? image.naturalHeight || image.height : 1;
        // WebGL 1 samples a non-power-of-two texture only clamped and without mipmaps.
        var fullTexturing = context.version === 2 || (isPowerOfTwo(width) && isPowerOfTwo(height));
        var minFilter = sampler.minFilter || gl.LINEAR_MIPMAP_LINEAR;
        if (minFilter !== gl.NEAREST && minFilter !== gl.LINEAR) {
            if (fullTexturing) gl.generateMipmap(gl.TEXTURE_2D);
            else minFilter = gl.LINEAR;
        }
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, minFilter);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, sampler.magFilter || gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, fullTexturing ? sampler.wrapS || gl.REPEAT : gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, fullTexturing ? sampler.wrapT || gl.REPEAT : gl.CLAMP_TO_EDGE);
        return texture;
    }

    function decodeImage(blob) {
        if (!blob) return Promise.resolve(null);
        var url = URL.createObjectURL(blob);
        var image = new Image();
        image.src = url;
        return image.decode().then(function () {
            URL.revokeObjectURL(url);
            return image;
        }, function () {
            URL.revokeObjectURL(url);
            throw new Error("its picture (" + blob.type + ") cannot be decoded");
        });
    }

    function uploadScene(context, scene, images) {
        var gl = context.gl;
        return scene.primitives.map(function (primitive, i) {
            var indices = primitive.indices;
            if (indices instanceof Uint32Array && !context.uintIndices) {
                throw new Error("this browser's WebGL cannot draw more than 65536 vertices in one mesh");
            }
            var vertexCount = primitive.positions.length / 3;
            return {
                matrix: primitive.matrix,
                positions: arrayBuffer(gl, gl.ARRAY_BUFFER, primitive.positions),
                uvs: arrayBuffer(gl, gl.ARRAY_BUFFER, primitive.uvs || new Float32Array(vertexCount * 2)),
                indices: indices ? arrayBuffer(gl, gl.ELEMENT_ARRAY_BUFFER, indices) : null,
                indexType: indices instanceof Uint32Array ? gl.UNSIGNED_INT : indices instanceof Uint16Array ? gl.UNSIGNED_SHORT : gl.UNSIGNED_BYTE,
                count: indices ? indices.length : vertexCount,
                texture: uploadTexture(context, images[i], primitive.colour.sampler),
                factor: new Float32Array(primitive.colour.factor),
            };
        });
    }

    // ---- the view: where the user stands and looks -----------------------------------------------

    // How far in front of the camera the orbit turns: the median depth of the scene's vertices.
    function medianDepth(scene) {
        var camera = scene.camera, depths = [];
        scene.primitives.forEach(function (primitive) {
            var p = primitive.positions, m = primitive.matrix;
            var step = Math.max(3, 3 * Math.floor(p.length / 3 / 4000));
            for (var i = 0; i < p.length; i += step) {
                var world = [0, 1, 2].map(function (a) {
                    return m[a] * p[i] + m[4 + a] * p[i + 1] + m[8 + a] * p[i + 2] + m[12 + a];
                });
                var depth = -dot(add(world, camera.position, -1), camera.back);
                if (depth > 0) depths.push(depth);
            }
        });
        depths.sort(function (a, b) { return a - b; });
        return depths.length ? depths[Math.floor(depths.length / 2)] : 1;
    }

    function initialView(scene) {
        var camera = scene.camera;
        return {position: camera.position.slice(), right: camera.right.slice(), up: camera.up.slice(),
            back: camera.back.slice(), pivotDistance: scene.pivotDistance};
    }

    function turn(view, axis, angle, pivot) {
        view.right = rotate(view.right, axis, angle);
        view.up = rotate(view.up, axis, angle);
        view.back = rotate(view.back, axis, angle);
        if (pivot) view.position = add(pivot, rotate(add(view.position, pivot, -1), axis, angle), 1);
    }

    // Turning past straight up or down would turn the picture upside down: such a turn is refused,
    // unless the view is already that steep (a top-down picture) and the turn makes it less so.
    function turnVertically(view, angle, pivot) {
        var before = {position: view.position, right: view.right, up: view.up, back: view.back};
        turn(view, view.right, angle, pivot);
        if (view.up[1] < MIN_UP_Y && view.up[1] < before.up[1]) Object.assign(view, before);
    }

    function look(dxPx, dyPx) {
        stop();
        var view = viewer.view, lens = viewer.scene.camera.lens;
        // The scene follows the pointer: one pixel turns by the angle one pixel subtends.
        var radiansPerPx = (Math.atan(lens.top) - Math.atan(lens.bottom)) / Math.max(1, viewer.canvas.clientHeight);
        turn(view, [0, 1, 0], dxPx * radiansPerPx, null);
        turnVertically(view, dyPx * radiansPerPx, null);
        requestRender();
    }

    function orbit(dxPx, dyPx) {
        stop();
        var view = viewer.view;
        var pivot = add(view.position, view.back, -view.pivotDistance);
        turn(view, [0, 1, 0], -dxPx * ORBIT_RADIANS_PER_PX, pivot);
        turnVertically(view, -dyPx * ORBIT_RADIANS_PER_PX, pivot);
        requestRender();
    }

    function walk(forwardSteps, sidewaysSteps) {
        stop();
        var view = viewer.view, step = WALK_STEP_OF_DISTANCE * viewer.scene.pivotDistance;
        view.position = add(view.position, view.back, -forwardSteps * step);
        view.position = add(view.position, view.right, sidewaysSteps * step);
        view.pivotDistance = Math.max(0.1 * viewer.scene.pivotDistance, view.pivotDistance - forwardSteps * step);
        requestRender();
    }

    function reset() {
        if (!viewer.scene) return;
        stop();
        viewer.view = initialView(viewer.scene);
        requestRender();
    }

    function viewAt(matrix, pivotDistance) {
        return {position: column(matrix, 3), right: normalised(column(matrix, 0)), up: normalised(column(matrix, 1)),
            back: normalised(column(matrix, 2)), pivotDistance: pivotDistance};
    }

    /** Play the scene's camera move from its start (again from the start when it is playing). */
    function play() {
        if (!viewer.scene || !viewer.scene.cameraMove) return;
        viewer.playing = {move: viewer.scene.cameraMove, startMs: null};
        updatePlayButton();
        requestRender();
    }

    function stop() {
        if (!viewer.playing) return;
        viewer.playing = null;
        updatePlayButton();
    }

    // The view of the move at this frame's time; the move ends where its last key puts the camera.
    function advancePlaying(nowMs) {
        var playing = viewer.playing;
        if (playing.startMs === null) playing.startMs = nowMs;
        var seconds = Math.min((nowMs - playing.startMs) / 1000, playing.move.duration);
        viewer.view = viewAt(playing.move.matrixAt(seconds), viewer.view.pivotDistance);
        if (seconds >= playing.move.duration) stop();
    }

    function updatePlayButton() {
        var button = viewer.playButton;
        if (!button) return;
        button.classList.toggle("depth3d-hidden", !(viewer.scene && viewer.scene.cameraMove));
        button.textContent = viewer.playing ? "Stop (P)" : "Play the camera move (P)";
    }

    // The picture's frustum, widened on one side pair so that it fills the canvas exactly.
    function projection(lens, canvasAspect, near, far) {
        var left = lens.left, right = lens.right, bottom = lens.bottom, top = lens.top;
        var width = right - left, height = top - bottom;
        if (canvasAspect > width / height) {
            var extraX = (canvasAspect * height - width) / 2;
            left -= extraX;
            right += extraX;
        } else {
            var extraY = (width / canvasAspect - height) / 2;
            bottom -= extraY;
            top += extraY;
        }
        return new Float64Array([
            2 / (right - left), 0, 0, 0,
            0, 2 / (top - bottom), 0, 0,
            (right + left) / (right - left), (top + bottom) / (top - bottom), -(far + near) / (far - near), -1,
            0, 0, -2 * far * near / (far - near), 0,
        ]);
    }

    function viewMatrix(view) {
        var r = view.right, u = view.up, b = view.back, p = view.position;
        return new Float64Array([
            r[0], u[0], b[0], 0,
            r[1], u[1], b[1], 0,
            r[2], u[2], b[2], 0,
            -dot(r, p), -dot(u, p), -dot(b, p), 1,
        ]);
    }

    function render(nowMs) {
        viewer.renderPending = false;
        var canvas = viewer.canvas, context = viewer.gl, scene = viewer.scene;
        if (!canvas || !context || !scene || !canvas.isConnected || canvas.clientWidth === 0) return;
        if (viewer.playing) advancePlaying(nowMs);
        var ratio = window.devicePixelRatio || 1;
        var width = Math.max(1, Math.round(canvas.clientWidth * ratio));
        var height = Math.max(1, Math.round(canvas.clientHeight * ratio));
        if (canvas.width !== width || canvas.height !== height) {
            canvas.width = width;
            canvas.height = height;
        }
        var gl = context.gl;
        gl.viewport(0, 0, width, height);
        gl.clearColor(0, 0, 0, 0);
        gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
        gl.enable(gl.DEPTH_TEST);
        gl.disable(gl.CULL_FACE);
        gl.useProgram(context.program);
        var camera = scene.camera;
        var viewProjection = multiply(projection(camera.lens, width / height, camera.znear, camera.zfar), viewMatrix(viewer.view));
        viewer.drawables.forEach(function (drawable) {
            gl.uniformMatrix4fv(context.modelViewProjection, false, new Float32Array(multiply(viewProjection, drawable.matrix)));
            gl.uniform4fv(context.factor, drawable.factor);
            gl.activeTexture(gl.TEXTURE0);
            gl.bindTexture(gl.TEXTURE_2D, drawable.texture);
            gl.uniform1i(context.picture, 0);
            gl.bindBuffer(gl.ARRAY_BUFFER, drawable.positions);
            gl.enableVertexAttribArray(context.position);
            gl.vertexAttribPointer(context.position, 3, gl.FLOAT, false, 0, 0);
            gl.bindBuffer(gl.ARRAY_BUFFER, drawable.uvs);
            gl.enableVertexAttribArray(context.uv);
            gl.vertexAttribPointer(context.uv, 2, gl.FLOAT, false, 0, 0);
            if (drawable.indices) {
                gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, drawable.indices);
                gl.drawElements(gl.TRIANGLES, drawable.count, drawable.indexType, 0);
            } else {
                gl.drawArrays(gl.TRIANGLES, 0, drawable.count);
            }
        });
        viewer.frames += 1;
        if (viewer.playing) requestRender();
    }

    // Frames are drawn only when something changed, and never while the canvas is hidden (its
    // ResizeObserver asks for a frame when it shows again).
    function requestRender() {
        if (viewer.renderPending) return;
        viewer.renderPending = true;
        requestAnimationFrame(render);
    }

    // ---- loading ------------------------------------------------------------------------------------

    function showMessage(text, isError) {
        viewer.error = isError ? text : null;
        if (!viewer.message) return;
        viewer.message.textContent = text;
        viewer.message.classList.toggle("depth3d-viewer-error", !!isError);
    }

    function setCanvasShown(shown) {
        if (!viewer.canvas) return;
        viewer.canvas.parentElement.classList.toggle("depth3d-viewer-empty", !shown);
    }

    function releaseScene() {
        var context = viewer.gl;
        if (context && !context.gl.isContextLost()) {
            viewer.drawables.forEach(function (drawable) {
                [drawable.positions, drawable.uvs, drawable.indices].forEach(function (buffer) {
                    if (buffer) context.gl.deleteBuffer(buffer);
                });
                context.gl.deleteTexture(drawable.texture);
            });
        }
        viewer.drawables = [];
    }

    function ensureContext() {
        if (viewer.gl && viewer.gl.canvas === viewer.canvas) return viewer.gl;
        var context = createContext(viewer.canvas);
        if (!context) throw new Error(NO_WEBGL);
        context.canvas = viewer.canvas;
        viewer.gl = context;
        return context;
    }

    // Sends the parsed scene and its decoded pictures to the GPU of the current canvas.
    function showScene(scene, images) {
        releaseScene();
        var context = ensureContext();
        viewer.drawables = uploadScene(context, scene, images);
        viewer.canvas.style.aspectRatio = String(scene.camera.lens.aspect);
        setCanvasShown(true);
        var hint = HINT + (scene.cameraMove ? MOVE_HINT : "");
        showMessage(scene.camera.fromFile ? hint : "The file has no camera; showing it from the front. " + hint, false);
        updatePlayButton();
        requestRender();
    }

    // Parses the .glb's bytes, decodes its pictures and shows it, unless a later load came first.
    function showBytes(buffer, token) {
        var scene = parseGlb(buffer);
        return Promise.all(scene.primitives.map(function (p) { return decodeImage(p.colour.image); })).then(function (images) {
            if (token !== viewer.loadToken) return;
            scene.pivotDistance = medianDepth(scene);
            scene.images = images;
            viewer.playing = null;
            viewer.scene = scene;
            viewer.view = initialView(scene);
            showScene(scene, images);
        });
    }

    function explainFailure(shown, token) {
        return shown.catch(function (error) {
            if (token !== viewer.loadToken) return;
            releaseScene();
            viewer.scene = null;
            viewer.playing = null;
            setCanvasShown(false);
            var text = error.message === NO_WEBGL ? NO_WEBGL : "Cannot show the scene: " + error.message + ". Download the .glb instead.";
            showMessage(text, true);
        });
    }

    /**
     * Load and show the .glb at url, starting at its camera; replaces the scene shown.
     * @param {string} url where the .glb is served (or a blob: URL)
     * @returns {Promise<void>} settles when the scene is shown or its error is displayed
     */
    function load(url) {
        var token = ++viewer.loadToken;
        viewer.url = url;
        showMessage("Loading the scene…", false);
        return explainFailure(fetch(url).then(function (response) {
            if (!response.ok) throw new Error("the server answered " + response.status + " for the .glb");
            return response.arrayBuffer();
        }).then(function (buffer) {
            return showBytes(buffer, token);
        }), token);
    }

    /**
     * Show a .glb given as bytes (the shareable page's embedded scene), starting at its camera.
     * @param {ArrayBuffer} buffer the file's bytes
     * @returns {Promise<void>} settles when the scene is shown or its error is displayed
     */
    function open(buffer) {
        var token = ++viewer.loadToken;
        viewer.url = null;
        return explainFailure(Promise.resolve(buffer).then(function (bytes) { return showBytes(bytes, token); }), token);
    }

    function clear() {
        viewer.loadToken += 1;
        viewer.url = null;
        releaseScene();
        viewer.scene = null;
        viewer.playing = null;
        setCanvasShown(false);
        showMessage("Build the scene to walk into the picture.", false);
    }

    function builtSceneUrl() {
        var links = root().querySelectorAll("#depth3d_model a[href]");
        for (var i = 0; i < links.length; i++) {
            if (/\.glb($|[?#])/i.test(links[i].href)) return links[i].href;
        }
        return null;
    }

    function poll() {
        if (!viewer.canvas) return;
        var url = builtSceneUrl();
        if (url === viewer.seenLink) return;
        viewer.seenLink = url;
        if (url) load(url);
        else clear();
    }

    // ---- input --------------------------------------------------------------------------------------

    var dragging = null;

    function onPointerDown(event) {
        if (!viewer.scene) return;
        viewer.canvas.focus();
        viewer.canvas.setPointerCapture(event.pointerId);
        dragging = {x: event.clientX, y: event.clientY, look: event.button === 2 || event.shiftKey};
        event.preventDefault();
    }

    function onPointerMove(event) {
        if (!dragging || !viewer.scene) return;
        var dx = event.clientX - dragging.x, dy = event.clientY - dragging.y;
        dragging.x = event.clientX;
        dragging.y = event.clientY;
        if (dragging.look) look(dx, dy);
        else orbit(dx, dy);
    }

    function onPointerUp() {
        dragging = null;
    }

    function onWheel(event) {
        if (!viewer.scene) return;
        event.preventDefault();
        var notches = Math.max(-3, Math.min(3, -event.deltaY / 100));
        walk(notches, 0);
    }

    var KEY_STEPS = {w: [1, 0], arrowup: [1, 0], s: [-1, 0], arrowdown: [-1, 0],
        a: [0, -1], arrowleft: [0, -1], d: [0, 1], arrowright: [0, 1]};

    function onKeyDown(event) {
        if (!viewer.scene || event.ctrlKey || event.metaKey || event.altKey) return;
        var key = event.key.toLowerCase();
        if (key === "r") reset();
        else if (key === "p" && viewer.scene.cameraMove) {
            if (viewer.playing) stop();
            else play();
        } else if (KEY_STEPS[key]) walk(KEY_STEPS[key][0] * (event.shiftKey ? 4 : 1), KEY_STEPS[key][1] * (event.shiftKey ? 4 : 1));
        else return;
        event.preventDefault();
    }

    function onContextLost(event) {
        event.preventDefault();
        viewer.drawables = [];
        showMessage("The graphics card dropped the 3D view; it comes back when the browser restores it.", true);
    }

    function onContextRestored() {
        viewer.gl = null;
        if (viewer.scene) showScene(viewer.scene, viewer.scene.images);
    }

    function attach() {
        var host = root().querySelector("#depth3d_viewer_host");
        if (!host || host.querySelector("canvas.depth3d-viewer-canvas")) return;
        host.innerHTML = "";
        var stage = document.createElement("div");
        stage.className = "depth3d-viewer-stage depth3d-viewer-empty";
        var canvas = document.createElement("canvas");
        canvas.className = "depth3d-viewer-canvas";
        canvas.tabIndex = 0;
        canvas.setAttribute("role", "application");
        canvas.setAttribute("aria-label",
            "3D view of the built scene, starting at the picture's camera. Drag to orbit, Shift+drag to look around, " +
            "wheel or W and S to walk, A and D to step sideways, R to go back to the picture, P to play the camera move.");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "depth3d-tool depth3d-viewer-reset";
        button.textContent = "Back to the picture (R)";
        button.title = "Go back to the picture's camera";
        button.addEventListener("click", reset);
        var playButton = document.createElement("button");
        playButton.type = "button";
        playButton.className = "depth3d-tool depth3d-viewer-play depth3d-hidden";
        playButton.title = "Play the camera move stored in the scene";
        playButton.addEventListener("click", function () {
            if (viewer.playing) stop();
            else play();
        });
        var message = document.createElement("div");
        message.className = "depth3d-viewer-message";
        message.setAttribute("aria-live", "polite");
        stage.appendChild(canvas);
        stage.appendChild(button);
        stage.appendChild(playButton);
        host.appendChild(stage);
        host.appendChild(message);
        canvas.addEventListener("pointerdown", onPointerDown);
        canvas.addEventListener("pointermove", onPointerMove);
        canvas.addEventListener("pointerup", onPointerUp);
        canvas.addEventListener("pointercancel", onPointerUp);
        canvas.addEventListener("wheel", onWheel, {passive: false});
        canvas.addEventListener("keydown", onKeyDown);
        canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });
        canvas.addEventListener("webglcontextlost", onContextLost);
        canvas.addEventListener("webglcontextrestored", onContextRestored);
        if (typeof ResizeObserver === "function") new ResizeObserver(requestRender).observe(canvas);
        viewer.canvas = canvas;
        viewer.message = message;
        viewer.playButton = playButton;
        updatePlayButton();
        if (viewer.scene) {
            try {
                showScene(viewer.scene, viewer.scene.images);
            } catch (error) {
                showMessage(error.message, true);
            }
        } else {
            showMessage("Build the scene to walk into the picture.", false);
        }
        poll();
    }

    viewer.parseGlb = parseGlb;
    viewer.attach = attach;
    viewer.load = load;
    viewer.open = open;
    viewer.reset = reset;
    viewer.play = play;

    function onUpdate() {
        attach();
        poll();
    }

    if (typeof onUiLoaded === "function") onUiLoaded(onUpdate);
    if (typeof onUiUpdate === "function") onUiUpdate(onUpdate);
    // A new build changes a link's address, which a MutationObserver may report late: check twice a second.
    setInterval(poll, 500);
})();
