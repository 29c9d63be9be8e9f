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
 *   async-uploads:pause    detail {file}  (an upload in parts was paused)
 * Files of at least data-multipart-threshold bytes go in parts (start, sign, send each part as the
 * raw body, complete), data-multipart-concurrency at a time, with pause and resume; the session is
 * remembered in localStorage under the file's fingerprint, so the same pick after a reload sends
 * only the parts that are missing.
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

  /* One state at a time: an error hides the status and the progress bar... */
  function setError(widget, message) {
    var box = part(widget, "error");
    box.textContent = message || "";
    box.hidden = !message;
    if (message) {
      part(widget, "status").textContent = "";
      part(widget, "progress").hidden = true;
    }
  }

  /* ...and a new status clears the error; ``bar`` says whether the progress bar goes with it. */
  function setStatus(widget, message, bar) {
    part(widget, "status").textContent = message || "";
    if (message) {
      setError(widget, "");
    }
    part(widget, "progress").hidden = !(message && bar);
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

  function errorText(status, text) {
    text = text || "";
    try {
      var data = JSON.parse(text);
      if (data && data.message) {
        return data.message; // this package's own upload view answers {"code", "message"}
      }
    } catch (e) {
      // S3 and Azure answer XML
    }
    var match = /<Message>([^<]*)<\/Message>/.exec(text);
    return "The storage refused the upload (HTTP " + status + (match ? ": " + match[1] : "") + ").";
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
          reject(new Error(errorText(xhr.status, xhr.responseText)));
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

  /* ---- Uploads in parts (files of at least data-multipart-threshold bytes) ---- */

  var SIGN_BATCH = 100; // the most part numbers one sign call takes
  var PART_TRIES = 3;
  var STORE_PREFIX = "async-uploads:multipart:";

  function usesParts(widget, file) {
    var threshold = parseInt(widget.dataset.multipartThreshold, 10);
    return !!widget.dataset.multipartStart && !isNaN(threshold) && file.size >= threshold;
  }

  /* The file's fingerprint: what a later page (after a reload) recognises the same pick by. The
   * record's id is part of it: a session started on one record's page is not taken up on another's. */
  function fingerprint(widget, file) {
    var parts = [widget.dataset.asyncFieldId, widget.dataset.instanceId || "", file.name, file.size, file.lastModified];
    return STORE_PREFIX + parts.join(":");
  }

  /* A remembered session that can still be taken up: complete, and not past the session's
   * expiresAt (an entry without one, of an older script, never expired: it is dropped too). */
  function usable(data) {
    var expires = data && data.expiresAt ? Date.parse(data.expiresAt) : NaN;
    return !!(data && data.key && data.uploadId && data.partSize && data.partCount && expires > Date.now());
  }

  function remembered(id) {
    var data = null;
    try {
      data = JSON.parse(window.localStorage.getItem(id) || "null");
    } catch (e) {
      // storage disabled, or not JSON
    }
    if (usable(data)) {
      return data;
    }
    forget(id);
    return null;
  }

  /* Drop the remembered sessions that have expired (or cannot be read), so they do not pile up. */
  function pruneRemembered() {
    var ids = [];
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var id = window.localStorage.key(i);
        if (id && id.indexOf(STORE_PREFIX) === 0) {
          ids.push(id);
        }
      }
    } catch (e) {
      return; // storage disabled
    }
    ids.forEach(remembered);
  }

  function remember(id, session) {
    try {
      window.localStorage.setItem(id, JSON.stringify(session));
    } catch (e) {
      // private mode or full: the upload still works, only a reload cannot resume it
    }
  }

  function forget(id) {
    try {
      window.localStorage.removeItem(id);
    } catch (e) {
      // nothing was stored
    }
  }

  /* A JSON call to one of the multipart views; refusals reject with {status, code, message}. */
  function api(widget, method, url, data) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (method === "POST") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken(widget);
      options.body = JSON.stringify(data);
    }
    return fetch(url, options).then(
      function (response) {
        return response.json().then(
          function (body) {
            if (!response.ok) {
              var error = new Error(body.message || "The upload was refused (HTTP " + response.status + ").");
              error.status = response.status;
              error.code = body.code;
              error.retry = response.status >= 500;
              throw error;
            }
            return body;
          },
          function () {
            var error = new Error("The server answered HTTP " + response.status + ".");
            error.status = response.status;
            error.retry = response.status >= 500;
            throw error;
          }
        );
      },
      function () {
        var error = new Error("The server could not be reached (network error).");
        error.retry = true;
        throw error;
      }
    );
  }

  function later(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  /* Complete ``session``, sent again like a part after a network error or a 5xx. A try after the
   * first may find the session completed by an earlier try whose answer was lost: the server then
   * answers upload_session_closed, saying the session "is completed" (not aborted or expired),
   * and the object is there under the session's key. */
  function completeSession(widget, session) {
    var attempt = 0;
    function tryOnce() {
      attempt += 1;
      return api(widget, "POST", widget.dataset.multipartComplete, {
        key: session.key,
        uploadId: session.uploadId,
      }).catch(function (error) {
        if (attempt > 1 && error.code === "upload_session_closed" && / is completed\b/.test(error.message)) {
          return { key: session.key };
        }
        if (!error.retry || attempt >= PART_TRIES) {
          throw error;
        }
        return later(400 * attempt).then(tryOnce);
      });
    }
    return tryOnce();
  }

  function pausedError() {
    var error = new Error("paused");
    error.paused = true;
    return error;
  }

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  function partRefused(status, text) {
    var error = new Error(errorText(status, text));
    error.status = status;
    error.retry = status >= 500; // a 4xx will not get better by sending the same request again
    return error;
  }

  function partUnreachable() {
    var error = new Error("A part could not reach the storage (network or CORS error).");
    error.retry = true;
    return error;
  }

  /* Send one part as the raw body with exactly the signed method, URL and headers, and no cookies:
   * the signature is the part's only credential. A cross-origin XMLHttpRequest (S3, Azure) sends no
   * cookies without withCredentials and reports the bytes as they go; a same-origin one (this
   * server's part view) always would, so that part goes by fetch with credentials "omit", and the
   * bar moves when it has arrived. */
  function sendPart(target, body, token, onProgress) {
    if (sameOrigin(target.url)) {
      return fetchPart(target, body, token, onProgress);
    }
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      token.xhrs.push(xhr);
      function done() {
        var i = token.xhrs.indexOf(xhr);
        if (i >= 0) {
          token.xhrs.splice(i, 1);
        }
      }
      xhr.open(target.method || "PUT", target.url);
      xhr.withCredentials = false;
      (target.headers || []).forEach(function (header) {
        xhr.setRequestHeader(header.name, header.value);
      });
      xhr.upload.onprogress = function (event) {
        onProgress(event.loaded);
      };
      xhr.onload = function () {
        done();
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(body.size);
          resolve();
        } else {
          reject(partRefused(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = function () {
        done();
        reject(partUnreachable());
      };
      xhr.onabort = function () {
        done();
        reject(pausedError());
      };
      xhr.send(body);
    });
  }

  function fetchPart(target, body, token, onProgress) {
    var controller = new AbortController();
    var handle = {
      abort: function () {
        controller.abort();
      },
    };
    token.xhrs.push(handle); // stopParts aborts it like a request in flight
    function done() {
      var i = token.xhrs.indexOf(handle);
      if (i >= 0) {
        token.xhrs.splice(i, 1);
      }
    }
    var headers = {};
    (target.headers || []).forEach(function (header) {
      headers[header.name] = header.value;
    });
    return fetch(target.url, {
      method: target.method || "PUT",
      body: body,
      headers: headers,
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    })
      .then(
        function (response) {
          return response.text().then(
            function (text) {
              return { response: response, text: text };
            },
            function () {
              return { response: response, text: "" };
            }
          );
        },
        function () {
          throw controller.signal.aborted ? pausedError() : partUnreachable();
        }
      )
      .then(
        function (answer) {
          done();
          if (controller.signal.aborted) {
            throw pausedError();
          }
          if (!answer.response.ok) {
            throw partRefused(answer.response.status, answer.text);
          }
          onProgress(body.size);
        },
        function (error) {
          done();
          throw error;
        }
      );
  }

  function sendPartWithRetries(target, body, token, onProgress) {
    var attempt = 0;
    function tryOnce() {
      if (token.stopped) {
        return Promise.reject(pausedError()); // paused during the backoff
      }
      attempt += 1;
      return sendPart(target, body, token, onProgress).catch(function (error) {
        if (token.stopped) {
          throw pausedError();
        }
        if (!error.retry || attempt >= PART_TRIES) {
          throw error;
        }
        onProgress(0);
        return later(400 * attempt).then(tryOnce); // a short backoff: 0.4 s, then 0.8 s
      });
    }
    return tryOnce();
  }

  /* Start a session, or take up the one remembered for this file if the server still has it open.
   * Resolves to {session, arrived: {partNumber: size}}. The session is on ``token`` as soon as it is
   * known, so a Remove or a new pick meanwhile can abort it; one that answers after the token was
   * dropped is aborted at once. */
  function openSession(widget, file, id, current, token) {
    var known = remembered(id) || current || null; // ``current``: the session of this page's last try
    token.storeId = id;
    function start() {
      token.session = null;
      if (token.dropped) {
        return Promise.reject(pausedError()); // dropped while the remembered session was asked about
      }
      var data = {
        fieldId: widget.dataset.asyncFieldId,
        filename: file.name,
        contentType: file.type || "",
        size: file.size,
      };
      if (widget.dataset.instanceId) {
        data.instanceId = widget.dataset.instanceId;
      }
      token.opening = api(widget, "POST", widget.dataset.multipartStart, data).then(function (started) {
        var session = {
          key: started.key,
          uploadId: started.uploadId,
          partSize: started.partSize,
          partCount: started.partCount,
          expiresAt: started.expiresAt,
        };
        token.session = session;
        if (token.dropped) {
          abortSession(widget, token); // dropped while the server was opening it
          throw pausedError();
        }
        remember(id, session);
        return { session: session, arrived: {} };
      });
      return token.opening;
    }
    if (!known) {
      return start();
    }
    token.session = known;
    var query = "?key=" + encodeURIComponent(known.key) + "&uploadId=" + encodeURIComponent(known.uploadId);
    return api(widget, "GET", widget.dataset.multipartParts + query).then(
      function (listed) {
        var arrived = {};
        (listed.parts || []).forEach(function (p) {
          arrived[p.partNumber] = p.size;
        });
        return { session: known, arrived: arrived };
      },
      function (error) {
        if (error.status === 404 || error.status === 409) {
          forget(id); // completed, aborted, expired or unknown: start over
          return start();
        }
        throw error;
      }
    );
  }

  /* Upload ``file`` in parts; resolves to the key once the server completed the object. */
  function uploadInParts(widget, file, token, onProgress, current) {
    var id = fingerprint(widget, file);
    var concurrency = Math.max(1, parseInt(widget.dataset.multipartConcurrency, 10) || 4);
    return openSession(widget, file, id, current, token).then(function (opened) {
      var session = opened.session;
      if (token.stopped) {
        throw pausedError();
      }
      var sent = 0; // bytes of the parts that arrived
      var inFlight = {}; // partNumber: bytes sent so far
      var missing = [];
      for (var n = 1; n <= session.partCount; n++) {
        var planned = Math.min(session.partSize, file.size - (n - 1) * session.partSize);
        if (opened.arrived[n] === planned) {
          sent += planned;
        } else {
          missing.push(n);
        }
      }
      function report() {
        var total = sent;
        Object.keys(inFlight).forEach(function (k) {
          total += inFlight[k];
        });
        onProgress(total, file.size);
      }
      report();
      // Parts are signed as they are needed, ``ahead`` at a time, the next batch asked for while the
      // last parts of the current one are being sent: a signature is used soon after it was made,
      // however slow the link (all of them signed up front would expire before the last parts go).
      var ahead = Math.min(SIGN_BATCH, 2 * concurrency);
      var targets = {}; // partNumber: its signed target
      var signing = {}; // partNumber: the sign call that brings its target
      var signedUpTo = 0; // parts missing[0..signedUpTo) are signed or being signed
      var next = 0; // the index in ``missing`` of the next part to send
      function sign(numbers) {
        var call = api(widget, "POST", widget.dataset.multipartSign, {
          key: session.key,
          uploadId: session.uploadId,
          partNumbers: numbers,
        }).then(function (signed) {
          signed.parts.forEach(function (target) {
            targets[target.partNumber] = target;
          });
        });
        call.catch(function () {
          // a worker that waits for this call sees the refusal; one signed ahead may never be waited for
        });
        numbers.forEach(function (n) {
          signing[n] = call;
        });
        return call;
      }
      function sendOne(number, body, resigned) {
        function progress(loaded) {
          inFlight[number] = loaded;
          report();
        }
        return signing[number]
          .then(function () {
            return sendPartWithRetries(targets[number], body, token, progress);
          })
          .catch(function (error) {
            if (error.status !== 403 || resigned || token.stopped) {
              throw error;
            }
            progress(0); // refused as expired (or otherwise forbidden): signed again once
            sign([number]);
            return sendOne(number, body, true);
          });
      }
      function worker() {
        if (token.stopped) {
          return Promise.reject(pausedError());
        }
        if (next >= missing.length) {
          return Promise.resolve();
        }
        var index = next++;
        if (signedUpTo - index < concurrency && signedUpTo < missing.length) {
          sign(missing.slice(signedUpTo, signedUpTo + ahead));
          signedUpTo = Math.min(missing.length, signedUpTo + ahead);
        }
        var number = missing[index];
        var begin = (number - 1) * session.partSize;
        var body = file.slice(begin, Math.min(begin + session.partSize, file.size));
        return sendOne(number, body, false).then(function () {
          delete inFlight[number];
          sent += body.size;
          report();
          return worker();
        });
      }
      var workers = [];
      for (var w = 0; w < Math.min(concurrency, missing.length); w++) {
        workers.push(worker());
      }
      return Promise.all(workers)
        .catch(function (error) {
          stopParts(token); // one part failed for good: stop the others
          throw error;
        })
        .then(function () {
          if (token.stopped) {
            throw pausedError();
          }
          return completeSession(widget, session);
        })
        .then(function (completed) {
          forget(id);
          token.session = null;
          return completed.key;
        });
    });
  }

  /* Stop the parts in flight of ``token`` (pause, a failed part, a new pick). */
  function stopParts(token) {
    token.stopped = true;
    (token.xhrs || []).slice().forEach(function (xhr) {
      xhr.abort();
    });
  }

  var ABORT_WAIT = 5000; // ms a new upload waits at most for the abort of the one it replaces

  /* Abort ``token``'s session on the server (nothing of it is left) and forget it. Resolves once the
   * server answered (the same promise as ``token.aborting``). */
  function abortSession(widget, token) {
    var session = token && token.session;
    if (!session) {
      return token.aborting || Promise.resolve();
    }
    token.session = null;
    forget(token.storeId);
    token.aborting = api(widget, "POST", widget.dataset.multipartAbort, {
      key: session.key,
      uploadId: session.uploadId,
    }).catch(function () {
      // already closed; the cleanup command aborts what is left past its expiry
    });
    return token.aborting;
  }

  /* ``promise``, or nothing after ``ms``, whichever comes first; never rejects. */
  function bounded(promise, ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
      promise.then(resolve, resolve);
    });
  }

  function showPauseResume(widget, state) {
    var pause = part(widget, "pause");
    var resume = part(widget, "resume");
    if (pause) {
      pause.hidden = state !== "running";
    }
    if (resume) {
      resume.hidden = state !== "paused";
    }
    if (state === "paused") {
      widget.dataset.paused = "true";
    } else {
      delete widget.dataset.paused;
    }
  }

  /* Stop the widget's running upload, if any: its result is no longer wanted. With ``dropSession``
   * an upload in parts is also aborted on the server. Resolves once that abort was answered (or
   * after ABORT_WAIT): until then the server still counts the session against the quotas. */
  function cancel(widget, dropSession) {
    var running = widget._asyncUpload;
    var closed = Promise.resolve();
    widget._asyncUpload = null;
    if (running) {
      if (running.xhr) {
        running.xhr.abort();
      }
      stopParts(running);
      if (dropSession) {
        running.dropped = true; // a session that is still being opened is aborted when it answers
        if (running.session) {
          closed = abortSession(widget, running);
        } else if (running.opening) {
          closed = running.opening.then(
            function () {
              return running.aborting;
            },
            function () {
              return running.aborting; // set if the late answer opened a session
            }
          );
        }
      }
    }
    showPauseResume(widget, "none");
    return bounded(closed, ABORT_WAIT);
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

  /* Upload ``file``; ``resuming`` (the resume button) takes up the paused session instead of
   * aborting it. */
  function upload(widget, file, resuming) {
    var hidden = part(widget, "value");
    var progress = part(widget, "progress");
    var token = { xhrs: [] };
    var inParts = usesParts(widget, file);
    var previous = widget._asyncUpload;
    // The same file picked again takes up its session (as after a reload); another one replaces it.
    // One whose start has not answered yet has no session to take up: it is dropped like another.
    var sameFile = !!(previous && inParts && previous.session && previous.storeId === fingerprint(widget, file));
    goodValue(widget);
    var closed = cancel(widget, !resuming && !sameFile); // a newer pick supersedes the running upload
    widget._asyncUpload = token;
    widget._asyncFile = file;
    widget.dataset.busy = "true";
    showKeep(widget, false);
    progress.value = 0;
    progress.max = file.size || 1;
    setStatus(widget, "Uploading " + file.name + "…", true);
    if (inParts) {
      showPauseResume(widget, "running");
    }
    emit(widget, "start", { file: file });
    var wantSize = widget.dataset.image === "true" ? imageSize(file) : Promise.resolve(null);
    wantSize = Promise.all([wantSize, closed]).then(function (both) {
      return both[0]; // the replaced session no longer counts against the quotas
    });
    var key = null;
    function onProgress(loaded, total) {
      if (widget._asyncUpload === token) {
        progress.max = total || 1;
        progress.value = loaded;
      }
    }
    wantSize
      .then(function (size) {
        if (inParts) {
          var current = (resuming || sameFile) && previous ? previous.session : null;
          return uploadInParts(widget, file, token, onProgress, current).then(function (completed) {
            key = completed;
            return size;
          });
        }
        return requestTarget(widget, file).then(function (issued) {
          key = issued.key;
          if (widget._asyncUpload !== token) {
            throw new Error("superseded"); // picked again, or removed, while the URL was requested
          }
          return send(issued.uploadUrl, file, onProgress, token).then(function () {
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
          showPauseResume(widget, "none");
          setCurrent(widget, file.name, null);
          progress.max = file.size || 1;
          progress.value = progress.max;
          setStatus(widget, "Uploaded " + file.name + ".", true);
          emit(widget, "done", { file: file, key: key, value: value });
        },
        function (error) {
          if (widget._asyncUpload !== token) {
            return;
          }
          if (error.paused) {
            // Paused: the session stays open (and remembered); the resume button sends the rest.
            showPauseResume(widget, "paused");
            var percent = Math.floor((100 * progress.value) / (progress.max || 1));
            setStatus(widget, "Paused at " + percent + "%.", true);
            emit(widget, "pause", { file: file });
            return;
          }
          delete widget.dataset.busy;
          showPauseResume(widget, "none");
          key = key || (token.session && token.session.key);
          if (key) {
            // A key was issued but the file did not arrive: submitting says so instead of
            // silently keeping the previous file, unless the user chooses to keep it.
            hidden.value = JSON.stringify({ key: key, name: file.name, error: error.message });
            showKeep(widget, parsed(goodValue(widget)) !== null);
          }
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
      var file = input.files[0];
      // Emptied once taken: the same file chosen again (to retry, or after Remove) is a change again.
      input.value = "";
      upload(widget, file);
    }
  });

  document.addEventListener("click", function (event) {
    var keep = event.target.closest && event.target.closest(".async-file-input__keep");
    var kept = keep && keep.closest(SELECTOR);
    if (kept) {
      event.preventDefault();
      cancel(kept, true);
      var previous = goodValue(kept);
      var data = parsed(previous);
      part(kept, "value").value = previous;
      part(kept, "picker").value = "";
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
    cancel(widget, true);
    delete widget.dataset.busy;
    delete widget.dataset.uploaded;
    part(widget, "value").value = "";
    widget._asyncGoodValue = "";
    showKeep(widget, false);
    part(widget, "picker").value = "";
    setError(widget, "");
    setStatus(widget, "");
    setCurrent(widget, null, null);
  });

  // Pause stops the parts in flight (the session stays open); resume sends only what is missing.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".async-file-input__pause, .async-file-input__resume");
    var widget = button && button.closest(SELECTOR);
    if (!widget) {
      return;
    }
    event.preventDefault();
    if (button.classList.contains("async-file-input__pause")) {
      if (widget._asyncUpload) {
        stopParts(widget._asyncUpload);
      }
    } else if (widget._asyncFile && widget.dataset.paused) {
      upload(widget, widget._asyncFile, true);
    }
  });

  // The picker itself stays out of sight (its own label would repeat the file's name).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".async-file-input__choose");
    var widget = button && button.closest(SELECTOR);
    if (widget) {
      event.preventDefault();
      part(widget, "picker").click();
    }
  });

  var WAIT = "Wait for the upload to finish before saving.";

  // No submit while a file is still on its way: the form would save without it. The upload stays
  // the widget's one state: the note joins its status line, the progress bar stays.
  document.addEventListener(
    "submit",
    function (event) {
      var busy = event.target.querySelector(SELECTOR + "[data-busy]");
      if (busy) {
        event.preventDefault();
        event.stopImmediatePropagation();
        var status = part(busy, "status");
        var text = status.textContent;
        if (text.indexOf(WAIT) < 0) {
          status.textContent = text ? text + " " + WAIT : WAIT;
        }
      }
    },
    true
  );

  pruneRemembered();

  window.asyncUploadsWidget = { upload: upload, send: send, imageSize: imageSize, fingerprint: fingerprint };
})();
