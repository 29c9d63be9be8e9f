/*
 * The browser side of django-async-uploads' AsyncFileInput widget. No dependencies, no build step.
 *
 * When a file is picked it asks the widget's generate-upload-url endpoint for a key and a signed
 * target, sends the file straight to that target (the Django server, S3 or Azure Blob) with a
 * progress bar, and writes {"key", "name", "width"?, "height"?} into the hidden input the form
 * submits. Nothing else of the form is touched, and the form cannot be submitted while an upload is
 * running. Events for integrators, dispatched on the widget's element (they bubble):
 *   async-uploads:start    detail {file}
 *   async-uploads:done     detail {file, key, value}
 *   async-uploads:error    detail {file, message}
 * Works for widgets added to the page later (admin inlines): every listener is delegated.
 */
(function () {
  "use strict";

  if (window.asyncUploadsWidget) {
    return; // the script was included twice (two forms' media on one page)
  }

  var SELECTOR = "[data-async-file-input]";

  function part(widget, name) {
    return widget.querySelector(".async-file-input__" + name);
  }

  function setError(widget, message) {
    var box = part(widget, "error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setStatus(widget, message) {
    part(widget, "status").textContent = message || "";
  }

  function setCurrent(widget, name, url) {
    var current = part(widget, "current");
    current.textContent = "";
    if (!name) {
      current.textContent = widget.dataset.emptyLabel || "No file";
    } else if (url) {
      var link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = name;
      current.appendChild(link);
    } else {
      current.textContent = name;
    }
    var clear = part(widget, "clear");
    if (clear) {
      clear.hidden = !name;
    }
  }

  function csrfToken(widget) {
    var form = widget.closest("form");
    var input = (form && form.querySelector("input[name=csrfmiddlewaretoken]")) ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) {
      return input.value;
    }
    var name = (widget.dataset.csrfCookieName || "csrftoken") + "=";
    var cookies = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < cookies.length; i++) {
      if (cookies[i].indexOf(name) === 0) {
        return decodeURIComponent(cookies[i].slice(name.length));
      }
    }
    return "";
  }

  /* Width and height of an image, read in the browser so the server need not download it. */
  function imageSize(file) {
    if (!/^image\//.test(file.type)) {
      return Promise.resolve(null);
    }
    if (window.createImageBitmap) {
      return createImageBitmap(file).then(
        function (bitmap) {
          var size = { width: bitmap.width, height: bitmap.height };
          if (bitmap.close) {
            bitmap.close();
          }
          return size;
        },
        function () {
          return null; // not decodable here (e.g. a format this browser lacks): the server decides
        }
      );
    }
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        URL.revokeObjectURL(url);
        resolve({ width: img.naturalWidth, height: img.naturalHeight });
      };
      img.onerror = function () {
        URL.revokeObjectURL(url);
        resolve(null);
      };
      img.src = url;
    });
  }

  function requestTarget(widget, file) {
    var body = new FormData();
    body.append("field_id", widget.dataset.asyncFieldId);
    body.append("filename", file.name);
    body.append("content_type", file.type || "");
    body.append("size", String(file.size));
    if (widget.dataset.instanceId) {
      body.append("instance_id", widget.dataset.instanceId);
    }
    return fetch(widget.dataset.generateUploadUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(widget), Accept: "application/json" },
    }).then(function (response) {
      return response.json().then(
        function (data) {
          if (!response.ok) {
            throw new Error(data.message || "The upload was refused (HTTP " + response.status + ").");
          }
          return data;
        },
        function () {
          throw new Error("Could not get an upload URL (HTTP " + response.status + ").");
        }
      );
    });
  }

  function errorText(xhr) {
    var text = xhr.responseText || "";
    try {
      var data = JSON.parse(text);
      if (data && data.message) {
        return data.message; // this package's own upload view answers {"code", "message"}
      }
    } catch (e) {
      // S3 and Azure answer XML
    }
    var match = /<Message>([^<]*)<\/Message>/.exec(text);
    return "The storage refused the upload (HTTP " + xhr.status + (match ? ": " + match[1] : "") + ").";
  }

  /* Send the file to the signed target: multipart POST (the Django server, S3) or PUT (Azure).
   * ``token`` (optional) receives the request as ``token.xhr``, so a newer pick can abort it. */
  function send(target, file, onProgress, token) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      if (token) {
        token.xhr = xhr;
      }
      var method = (target.method || "POST").toUpperCase();
      xhr.open(method, target.url);
      var headers = target.headers || {};
      Object.keys(headers).forEach(function (name) {
        xhr.setRequestHeader(name, headers[name]);
      });
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          onProgress(event.loaded, event.total);
        }
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(file.size, file.size);
          resolve();
        } else {
          reject(new Error(errorText(xhr)));
        }
      };
      xhr.onerror = function () {
        reject(new Error("The upload could not reach the storage (network or CORS error)."));
      };
      xhr.onabort = function () {
        reject(new Error("The upload was cancelled."));
      };
      if (method === "PUT") {
        xhr.send(file);
      } else {
        var form = new FormData();
        var fields = target.fields || {};
        Object.keys(fields).forEach(function (name) {
          form.append(name, fields[name]);
        });
        form.append(target.fileFieldName || "file", file);
        xhr.send(form);
      }
    });
  }

  function emit(widget, name, detail) {
    widget.dispatchEvent(new CustomEvent("async-uploads:" + name, { bubbles: true, detail: detail }));
  }

  /* Stop the widget's running upload, if any: its result is no longer wanted. */
  function cancel(widget) {
    var running = widget._asyncUpload;
    widget._asyncUpload = null;
    if (running && running.xhr) {
      running.xhr.abort();
    }
  }

  /* The last value that names a usable file (or none): what "Keep the current file" restores. */
  function goodValue(widget) {
    if (widget._asyncGoodValue === undefined) {
      widget._asyncGoodValue = part(widget, "value").value; // as rendered
    }
    return widget._asyncGoodValue;
  }

  function parsed(value) {
    try {
      var data = JSON.parse(value);
      return data && typeof data === "object" && data.key && !data.error ? data : null;
    } catch (e) {
      return null;
    }
  }

  function showKeep(widget, show) {
    var keep = part(widget, "keep");
    if (keep) {
      keep.hidden = !show;
    }
  }

  function upload(widget, file) {
    var hidden = part(widget, "value");
    var progress = part(widget, "progress");
    var token = {};
    goodValue(widget);
    cancel(widget); // a newer pick supersedes the running upload
    widget._asyncUpload = token;
    widget.dataset.busy = "true";
    showKeep(widget, false);
    setError(widget, "");
    setStatus(widget, "Uploading " + file.name + "…");
    progress.value = 0;
    progress.max = file.size || 1;
    progress.hidden = false;
    emit(widget, "start", { file: file });
    var wantSize = widget.dataset.image === "true" ? imageSize(file) : Promise.resolve(null);
    var key = null;
    wantSize
      .then(function (size) {
        return requestTarget(widget, file).then(function (issued) {
          key = issued.key;
          if (widget._asyncUpload !== token) {
            throw new Error("superseded"); // picked again, or removed, while the URL was requested
          }
          return send(
            issued.uploadUrl,
            file,
            function (loaded, total) {
              if (widget._asyncUpload === token) {
                progress.max = total || 1;
                progress.value = loaded;
              }
            },
            token
          ).then(function () {
            return size;
          });
        });
      })
      .then(
        function (size) {
          if (widget._asyncUpload !== token) {
            return;
          }
          var value = { key: key, name: file.name };
          if (size && size.width && size.height) {
            value.width = size.width;
            value.height = size.height;
          }
          hidden.value = JSON.stringify(value);
          widget._asyncGoodValue = hidden.value;
          delete widget.dataset.busy;
          widget.dataset.uploaded = "true";
          setCurrent(widget, file.name, null);
          setStatus(widget, "Uploaded " + file.name + ".");
          emit(widget, "done", { file: file, key: key, value: value });
        },
        function (error) {
          if (widget._asyncUpload !== token) {
            return;
          }
          delete widget.dataset.busy;
          progress.hidden = true;
          if (key) {
            // A key was issued but the file did not arrive: submitting says so instead of
            // silently keeping the previous file, unless the user chooses to keep it.
            hidden.value = JSON.stringify({ key: key, name: file.name, error: error.message });
            showKeep(widget, parsed(goodValue(widget)) !== null);
          }
          setStatus(widget, "");
          setError(widget, error.message);
          emit(widget, "error", { file: file, message: error.message });
        }
      );
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("async-file-input__picker")) {
      return;
    }
    var widget = input.closest(SELECTOR);
    if (widget && input.files && input.files.length) {
      upload(widget, input.files[0]);
    }
  });

  document.addEventListener("click", function (event) {
    var keep = event.target.closest && event.target.closest(".async-file-input__keep");
    var kept = keep && keep.closest(SELECTOR);
    if (kept) {
      event.preventDefault();
      cancel(kept);
      var previous = goodValue(kept);
      var data = parsed(previous);
      part(kept, "value").value = previous;
      part(kept, "picker").value = "";
      part(kept, "progress").hidden = true;
      setError(kept, "");
      setStatus(kept, "");
      setCurrent(kept, data ? data.name || data.key : null, data ? data.url : null);
      showKeep(kept, false);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".async-file-input__clear");
    if (!button) {
      return;
    }
    var widget = button.closest(SELECTOR);
    if (!widget) {
      return;
    }
    event.preventDefault();
    cancel(widget);
    delete widget.dataset.busy;
    delete widget.dataset.uploaded;
    part(widget, "value").value = "";
    widget._asyncGoodValue = "";
    showKeep(widget, false);
    part(widget, "picker").value = "";
    part(widget, "progress").hidden = true;
    setError(widget, "");
    setStatus(widget, "");
    setCurrent(widget, null, null);
  });

  // No submit while a file is still on its way: the form would save without it.
  document.addEventListener(
    "submit",
    function (event) {
      var busy = event.target.querySelector(SELECTOR + "[data-busy]");
      if (busy) {
        event.preventDefault();
        event.stopImmediatePropagation();
        setError(busy, "Wait for the upload to finish before saving.");
      }
    },
    true
  );

  window.asyncUploadsWidget = { upload: upload, send: send, imageSize: imageSize };
})();
