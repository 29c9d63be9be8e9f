// The example project's demo page: uploads straight to storage, through the GraphQL API only.
//
// Picking a file asks generateUploadUrl for a signed upload target and uploads the file there at
// once (XMLHttpRequest, for its progress events) while the user fills in the rest of the form;
// submitting the form sends createDocument / createPhoto with the upload's key. Files of at least
// the page's multipart threshold (the MULTIPART_THRESHOLD setting) go in parts instead:
// startMultipartUpload, signUploadParts a few parts ahead of need, the parts themselves (several
// at a time, retried), completeMultipartUpload; they can be paused and resumed, and the session is
// remembered in localStorage, so picking the same file after a reload sends only the parts
// storage does not hold yet (uploadedParts). No dependencies, no build step. The operations below
// are checked against schema.graphql by tests/test_browser_demo.py.
(function () {
  "use strict";

  const root = document.getElementById("demo");
  if (!root) return; // signed out: the page shows a sign-in link instead

  const ENDPOINT = root.dataset.graphql;
  // The token of {% csrf_token %}: unlike the cookie it is there with CSRF_COOKIE_HTTPONLY or
  // CSRF_USE_SESSIONS too. strawberry's GraphQLView is not CSRF-exempt.
  const CSRF_TOKEN = root.querySelector("input[name=csrfmiddlewaretoken]").value;

  const MESSAGES = "... on OperationInfo { messages { kind code field message } }";

  const REQUEST_UPLOAD_URL = `
    mutation RequestUploadUrl($input: GenerateUploadUrlInput!) {
      generateUploadUrl(input: $input) {
        __typename
        ... on IssuedUpload {
          key
          upload { url method provider fields { name value } headers { name value } fileFieldName expiresAt }
        }
        ${MESSAGES}
      }
    }`;

  const CREATE_DOCUMENT = `
    mutation CreateDocument($data: DocumentInput!) {
      createDocument(data: $data) {
        __typename
        ... on DocumentType { id title }
        ${MESSAGES}
      }
    }`;

  const CREATE_PHOTO = `
    mutation CreatePhoto($data: PhotoInput!) {
      createPhoto(data: $data) {
        __typename
        ... on PhotoType { id caption }
        ${MESSAGES}
      }
    }`;

  const LISTS = `
    query DemoLists {
      documents { id title createdAt attachment { name url } }
      photos { id caption image { name downloadUrl width height } }
    }`;

  // Files in parts: start, sign parts, list those storage holds (resume), complete, abort.
  const START_MULTIPART = `
    mutation StartMultipartUpload($input: StartMultipartUploadInput!) {
      startMultipartUpload(input: $input) {
        __typename
        ... on MultipartUpload { key uploadId partSize partCount expiresAt }
        ${MESSAGES}
      }
    }`;

  const SIGN_PARTS = `
    mutation SignUploadParts($input: SignUploadPartsInput!) {
      signUploadParts(input: $input) {
        __typename
        ... on SignedUploadParts { parts { partNumber url method headers { name value } } }
        ${MESSAGES}
      }
    }`;

  const UPLOADED_PARTS = `
    query UploadedParts($key: String!, $uploadId: String!) {
      uploadedParts(key: $key, uploadId: $uploadId) { partNumber size }
    }`;

  const COMPLETE_MULTIPART = `
    mutation CompleteMultipartUpload($input: CompleteMultipartUploadInput!) {
      completeMultipartUpload(input: $input) {
        __typename
        ... on CompletedMultipartUpload { key }
        ${MESSAGES}
      }
    }`;

  const ABORT_MULTIPART = `
    mutation AbortMultipartUpload($input: AbortMultipartUploadInput!) {
      abortMultipartUpload(input: $input) {
        __typename
        ... on AbortedMultipartUpload { key }
        ${MESSAGES}
      }
    }`;

  const KINDS = {
    document: {
      field: "EXAMPLE_DOCUMENT_ATTACHMENT",
      mutation: CREATE_DOCUMENT,
      result: "createDocument",
      data: (form, file) => ({ title: form.elements.title.value, attachment: file }),
      label: (form) => form.elements.title.value,
    },
    photo: {
      field: "EXAMPLE_PHOTO_IMAGE",
      mutation: CREATE_PHOTO,
      result: "createPhoto",
      data: (form, file) => ({ caption: form.elements.caption.value, image: file }),
      label: (form) => form.elements.caption.value || "photo",
    },
  };

  const PROVIDERS = { FILESYSTEM: "this server", S3: "S3", AZURE: "Azure Blob", OTHER: "the storage" };

  /** Run a GraphQL operation; resolve to its data, or reject with the errors' messages. */
  async function graphql(query, variables) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": CSRF_TOKEN },
        body: JSON.stringify({ query, variables }),
      });
    } catch (_) {
      throw Object.assign(new Error("The server could not be reached. Check the connection and try again."), {
        retry: true,
      });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // not JSON: a CSRF failure or a server error page
    }
    if (body && Array.isArray(body.errors) && body.errors.length) {
      const error = new Error(body.errors.map((e) => e.message).join(" "));
      error.codes = body.errors.map((e) => e.extensions && e.extensions.code);
      throw error;
    }
    if (!response.ok || !body || !body.data) {
      throw Object.assign(
        new Error(`The GraphQL request failed (HTTP ${response.status}). Reload the page and sign in again.`),
        { retry: response.status >= 500 },
      );
    }
    return body.data;
  }

  /** Run a mutation whose payload is a result or an OperationInfo; resolve to the result, reject with the refusal. */
  async function mutate(query, input, name) {
    const payload = (await graphql(query, { input }))[name];
    if (payload.__typename === "OperationInfo") {
      const error = new Error(payload.messages.map((m) => m.message).join(" "));
      error.messages = payload.messages;
      error.codes = payload.messages.map((m) => m.code);
      throw error;
    }
    return payload;
  }

  const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* ---- Files in parts ---- */

  const MULTIPART_THRESHOLD = Number(root.dataset.multipartThreshold);
  const MULTIPART_CONCURRENCY = Math.max(1, Number(root.dataset.multipartConcurrency) || 4);
  const SIGN_AHEAD = Math.min(100, 2 * MULTIPART_CONCURRENCY); // part numbers signed per call
  const TRIES = 3; // per part, and for the completion
  const STORE_PREFIX = "async-uploads-demo:multipart:";

  function usesParts(file) {
    return MULTIPART_THRESHOLD > 0 && file.size >= MULTIPART_THRESHOLD;
  }

  /* Sessions remembered by file fingerprint, so the same pick after a reload resumes. */
  const remembered = {
    id: (field, file) => STORE_PREFIX + [field, file.name, file.size, file.lastModified].join(":"),
    get(id) {
      try {
        const session = JSON.parse(localStorage.getItem(id) || "null");
        if (session && session.key && session.uploadId && Date.parse(session.expiresAt) > Date.now()) return session;
        if (session) localStorage.removeItem(id); // expired, or written by an older page
      } catch (_) {
        // storage disabled: nothing to resume
      }
      return null;
    },
    set(id, session) {
      try {
        localStorage.setItem(id, JSON.stringify(session));
      } catch (_) {
        // private mode or full: only a reload cannot resume this upload
      }
    },
    forget(id) {
      try {
        localStorage.removeItem(id);
      } catch (_) {
        // nothing was stored
      }
    },
    /** Drop every expired entry (get() does it for one). */
    prune() {
      try {
        for (const id of Object.keys(localStorage)) if (id.startsWith(STORE_PREFIX)) remembered.get(id);
      } catch (_) {
        // storage disabled
      }
    },
  };

  /** Send one part: its bytes as the raw body with exactly the signed method, URL and headers. */
  function sendPart(entry, target, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      entry.xhrs.add(xhr);
      const fail = (message, details) => {
        entry.xhrs.delete(xhr);
        reject(Object.assign(new Error(message), details));
      };
      xhr.open(target.method, target.url);
      for (const { name, value } of target.headers) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          entry.xhrs.delete(xhr);
          resolve();
          return;
        }
        fail(`The storage refused part ${target.partNumber} (HTTP ${xhr.status})${storageMessage(xhr)}.`, {
          retry: xhr.status >= 500,
          expired: xhr.status === 403, // a signature past its expiry: sign the part again
        });
      });
      xhr.addEventListener("error", () =>
        fail(`Part ${target.partNumber} could not reach ${new URL(target.url, location.href).origin}.`, {
          retry: true,
        }),
      );
      xhr.addEventListener("abort", () => fail("stopped", { stopped: true }));
      xhr.send(body);
    });
  }

  /** Wait while ``entry`` is paused; throw once it was replaced or another part failed. */
  async function running(entry) {
    while (entry.paused && !entry.stopped) await entry.resumed;
    if (entry.stopped) throw entry.stopped;
  }

  /** Upload ``entry.file`` in parts for ``field``; resolve to the key once the server completed it. */
  async function uploadInParts(entry, field, onProgress) {
    const file = entry.file;
    const id = remembered.id(field, file);
    let session = remembered.get(id);
    const arrived = new Map();
    if (session) {
      try {
        const data = await graphql(UPLOADED_PARTS, { key: session.key, uploadId: session.uploadId });
        for (const part of data.uploadedParts) arrived.set(part.partNumber, part.size);
      } catch (error) {
        if (error.retry) throw error; // the server is unreachable: keep the session for the next try
        remembered.forget(id); // completed, aborted or not this user's: start again
        session = null;
      }
    }
    if (!session) {
      session = await mutate(
        START_MULTIPART,
        { field, filename: file.name, contentType: file.type || null, size: file.size },
        "startMultipartUpload",
      );
      remembered.set(id, session);
    }
    entry.session = session;
    entry.storeId = id;
    await running(entry); // replaced while the session started: the caller aborts it

    const sizeOf = (n) => Math.min(session.partSize, file.size - (n - 1) * session.partSize);
    const queue = [];
    let sent = 0; // bytes of the parts storage holds
    for (let n = 1; n <= session.partCount; n++) {
      if (arrived.get(n) === sizeOf(n)) sent += sizeOf(n);
      else queue.push(n);
    }
    entry.partsLeft = queue.length;
    const inFlight = new Map(); // part number: bytes sent so far
    const report = () => onProgress(sent + [...inFlight.values()].reduce((a, b) => a + b, 0), file.size);
    report();

    // Signatures, a few parts ahead of need (a signature signed long before its part is sent could expire).
    const signed = new Map();
    let signing = null;
    async function targetFor(number) {
      while (!signed.has(number)) {
        if (!signing) {
          const numbers = [number, ...queue.filter((n) => !signed.has(n))].slice(0, SIGN_AHEAD);
          signing = mutate(SIGN_PARTS, { key: session.key, uploadId: session.uploadId, partNumbers: numbers }, "signUploadParts")
            .then((payload) => payload.parts.forEach((part) => signed.set(part.partNumber, part)))
            .finally(() => {
              signing = null;
            });
        }
        await signing;
      }
      const target = signed.get(number);
      signed.delete(number);
      return target;
    }

    async function sendWithRetries(number) {
      const begin = (number - 1) * session.partSize;
      const body = file.slice(begin, begin + sizeOf(number));
      let target = await targetFor(number);
      let signedAgain = false;
      for (let attempt = 1; ; attempt++) {
        await running(entry); // paused while its signature was on its way: the part waits for the resume
        try {
          await sendPart(entry, target, body, (loaded) => {
            inFlight.set(number, loaded);
            report();
          });
          return;
        } catch (error) {
          inFlight.delete(number);
          report();
          if (error.stopped) throw error;
          if (error.expired && !signedAgain) {
            signedAgain = true;
            target = await targetFor(number);
            attempt -= 1;
            continue;
          }
          if (!error.retry || attempt >= TRIES) throw error;
          await delay(400 * attempt);
        }
      }
    }

    async function worker() {
      while (queue.length) {
        await running(entry);
        const number = queue.shift();
        try {
          await sendWithRetries(number);
          sent += sizeOf(number);
          entry.partsLeft -= 1;
        } catch (error) {
          if (error.stopped && !entry.stopped) {
            queue.unshift(number); // paused: this part goes again on resume
            continue;
          }
          throw error;
        } finally {
          inFlight.delete(number);
          report();
        }
      }
    }

    const workers = Array.from({ length: Math.min(MULTIPART_CONCURRENCY, queue.length) }, worker);
    try {
      await Promise.all(workers);
    } catch (error) {
      entry.stop(error); // one part failed for good: stop the others (the session stays, to resume)
      await Promise.allSettled(workers);
      throw error;
    }
    await running(entry);

    for (let attempt = 1; ; attempt++) {
      try {
        await mutate(COMPLETE_MULTIPART, { key: session.key, uploadId: session.uploadId }, "completeMultipartUpload");
        break;
      } catch (error) {
        // The answer to an earlier try was lost, but the server had completed it.
        if (attempt > 1 && error.codes && error.codes.includes("upload_session_closed")) break;
        if (!error.retry) {
          if (!(error.codes || []).includes("invalid_input")) {
            // Refused at verification (the server aborted the session), or closed: nothing to resume.
            // A part missing or of the wrong size (invalid_input) keeps it open: picking the file again sends it.
            remembered.forget(id);
            entry.session = null;
          }
          throw error;
        }
        if (attempt >= TRIES) throw error;
        await delay(400 * attempt);
      }
    }
    remembered.forget(id);
    entry.session = null;
    return session.key;
  }

  /** Abort ``entry``'s session on the server, once; nothing of it is left in storage. */
  function abortSession(entry) {
    const session = entry.session;
    if (!session) return Promise.resolve();
    entry.session = null;
    remembered.forget(entry.storeId);
    return mutate(ABORT_MULTIPART, { key: session.key, uploadId: session.uploadId }, "abortMultipartUpload").catch(
      () => {
        // already closed; the cleanup command aborts what is left once it expires
      },
    );
  }

  /** Upload ``file`` to an UploadTarget; report progress on ``progress``. Returns {done, abort}. */
  function upload(target, file, progress) {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, target.url);
    for (const { name, value } of target.headers) xhr.setRequestHeader(name, value);
    let body = file; // PUT (Azure): the bytes are the body
    if (target.method === "POST") {
      // S3 and this server: the signed fields first, in order, then the file.
      body = new FormData();
      for (const { name, value } of target.fields) body.append(name, value);
      body.append(target.fileFieldName || "file", file);
    }
    const done = new Promise((resolve, reject) => {
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        progress.max = event.total;
        progress.value = event.loaded;
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new Error(`The storage refused the upload (HTTP ${xhr.status})${storageMessage(xhr)}.`));
      });
      xhr.addEventListener("error", () =>
        reject(
          new Error(
            `The upload could not reach ${new URL(target.url).origin}: is the storage running, and does its ` +
              "CORS configuration allow this page (manage.py setup_example_storage)?",
          ),
        ),
      );
      xhr.addEventListener("abort", () => reject(new DOMException("upload replaced", "AbortError")));
    });
    xhr.send(body);
    return { done, abort: () => xhr.abort() };
  }

  /** The reason in an error answer from the storage: JSON (this server) or XML (S3, Azure). */
  function storageMessage(xhr) {
    const text = xhr.responseText || "";
    try {
      const parsed = JSON.parse(text);
      if (parsed && parsed.message) return `: ${parsed.message}`;
    } catch (_) {
      const match = /<Message>([^<]*)<\/Message>/.exec(text);
      if (match) return `: ${match[1].trim()}`;
    }
    return "";
  }

  /** Read an image's dimensions in the browser, so the server needs not open it; null if unreadable. */
  async function imageSize(file) {
    if (typeof createImageBitmap !== "function") return null;
    try {
      const bitmap = await createImageBitmap(file);
      const size = { width: bitmap.width, height: bitmap.height };
      bitmap.close();
      return size;
    } catch (_) {
      return null; // not an image the browser reads: the server's verification decides
    }
  }

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  /** A file's upload: pause / resume (in parts), stop (replaced by another pick, or a part failed for good). */
  function newEntry(file) {
    let release = () => {};
    const entry = {
      file,
      xhrs: new Set(), // part requests in flight
      abortSingle: () => {}, // the single request, for a file not in parts
      paused: false,
      resumed: Promise.resolve(),
      stopped: null, // the reason, once stopped
      cancelled: false,
      session: null, // {key, uploadId, partSize, partCount, expiresAt} while in parts
      storeId: null,
      closing: null, // the abort of the session of a replaced upload
      partsLeft: 0,
      pause() {
        if (entry.paused || entry.stopped) return;
        entry.paused = true;
        entry.resumed = new Promise((resolve) => {
          release = resolve;
        });
        for (const xhr of entry.xhrs) xhr.abort(); // those parts go again on resume
      },
      resume() {
        entry.paused = false;
        release();
      },
      stop(reason) {
        if (!entry.stopped) entry.stopped = reason;
        for (const xhr of entry.xhrs) xhr.abort();
        entry.abortSingle();
        release();
      },
      /** Stop for good (another file was picked): nothing of this upload is wanted, its session is aborted. */
      cancel() {
        entry.cancelled = true;
        entry.stop(new DOMException("upload replaced", "AbortError"));
        if (entry.session) entry.closing = abortSession(entry);
      },
      /** Resolve once a cancelled upload has let go of everything, its session's abort included (at most 5 s). */
      settled() {
        const done = entry.promise.catch(() => {}).then(() => entry.closing);
        return Promise.race([done, delay(5000)]);
      },
    };
    return entry;
  }

  /** Wire one upload form: the file uploads when picked, the record is created on submit. */
  function setUpForm(form) {
    const kind = KINDS[form.dataset.kind];
    const fileInput = form.elements.file;
    const progress = form.querySelector("progress");
    const status = form.querySelector(".status");
    const errors = form.querySelector(".errors");
    const button = form.querySelector("button[type=submit]");
    const pauseButton = form.querySelector("button.pause");
    const resumeButton = form.querySelector("button.resume");
    // The current file's upload (newEntry), its promise resolving to the AsyncFileInput to submit.
    let current = null;

    function showErrors(messages) {
      errors.replaceChildren();
      for (const { message, code, field } of messages) {
        const item = document.createElement("li");
        // Name the input only for the form's text inputs (title, caption); the rest is about the file.
        const input = field && form.elements.namedItem(field);
        item.append(input && input !== fileInput ? `${input.closest("label").firstChild.textContent.trim()}: ${message}` : message);
        if (code) {
          const tag = document.createElement("code");
          tag.textContent = code;
          item.append(" ", tag);
        }
        errors.append(item);
      }
      errors.hidden = messages.length === 0;
      if (messages.length) {
        // One state at a time: a refusal replaces the upload's status and its bar.
        status.textContent = "";
        progress.hidden = true;
        showPauseResume(null);
      }
    }

    function setState(state, text) {
      form.dataset.upload = state; // idle | uploading | paused | uploaded | failed | saved
      status.textContent = text;
      // The bar shows an upload: none before a file is picked, none beside a refusal or "Saved".
      progress.hidden = !["uploading", "paused", "uploaded"].includes(state);
    }

    /** Show Pause while a file in parts is uploading, Resume while it is paused. */
    function showPauseResume(entry) {
      const inParts = entry !== null && entry === current && entry.session !== null;
      pauseButton.hidden = !(inParts && !entry.paused && form.dataset.upload === "uploading");
      resumeButton.hidden = !(inParts && entry.paused);
    }

    function reset() {
      if (current) current.cancel();
      current = null;
      progress.max = 1;
      progress.value = 0;
      setState("idle", "");
      showErrors([]);
      showPauseResume(null);
    }

    function onProgress(loaded, total) {
      progress.max = Math.max(total, 1);
      progress.value = Math.min(loaded, progress.max);
    }

    async function start(entry, previous) {
      const file = entry.file;
      const dimensions = form.dataset.kind === "photo" ? await imageSize(file) : null;
      if (previous) await previous.settled(); // its session no longer counts against the quotas
      if (entry.stopped) throw entry.stopped;
      if (usesParts(file)) {
        setState("uploading", `Starting the upload of ${file.name} (${formatSize(file.size)}) in parts…`);
        const key = await uploadInParts(entry, kind.field, (loaded, total) => {
          if (entry !== current) return; // replaced: the bar is the new file's
          onProgress(loaded, total);
          if (form.dataset.upload === "uploading" && entry.session) {
            const parts = entry.session.partCount;
            status.textContent =
              `Uploading ${file.name} (${formatSize(file.size)}) in ${parts} parts: ${parts - entry.partsLeft} sent.` +
              (form.dataset.saving ? " Saving when the upload ends…" : "");
            showPauseResume(entry);
          }
        });
        if (entry.stopped) throw entry.stopped; // replaced while it completed: its key is not wanted
        onProgress(file.size, file.size);
        setState("uploaded", `Uploaded ${file.name} (${formatSize(file.size)}) in parts.`);
        showPauseResume(null);
        return { key, name: file.name, ...(dimensions || {}) };
      }
      const issued = await mutate(
        REQUEST_UPLOAD_URL,
        { field: kind.field, filename: file.name, contentType: file.type || null, size: file.size },
        "generateUploadUrl",
      );
      if (entry.stopped) throw entry.stopped;
      setState("uploading", `Uploading ${file.name} (${formatSize(file.size)}) to ${PROVIDERS[issued.upload.provider]}…`);
      const transfer = upload(issued.upload, file, progress);
      entry.abortSingle = transfer.abort;
      await transfer.done;
      onProgress(file.size, file.size);
      setState("uploaded", `Uploaded ${file.name} (${formatSize(file.size)}) to ${PROVIDERS[issued.upload.provider]}.`);
      return { key: issued.key, name: file.name, ...(dimensions || {}) };
    }

    pauseButton.addEventListener("click", () => {
      if (!current || !current.session) return;
      current.pause();
      setState("paused", `Paused: ${current.session.partCount - current.partsLeft} of ${current.session.partCount} parts sent.`);
      showPauseResume(current);
    });

    resumeButton.addEventListener("click", () => {
      if (!current) return;
      current.resume();
      setState("uploading", `Uploading ${current.file.name} in parts…`);
      showPauseResume(current);
    });

    fileInput.addEventListener("change", () => {
      const previous = current;
      const file = fileInput.files[0];
      if (previous && previous.session && file && previous.storeId === remembered.id(kind.field, file)) {
        previous.session = null; // the same file again: its session is taken up, not aborted
      }
      reset();
      if (!file) return;
      setState("uploading", `Asking for an upload URL for ${file.name}…`);
      const entry = newEntry(file);
      current = entry;
      entry.promise = start(entry, previous);
      entry.promise.catch((error) => {
        if (current !== entry || error.name === "AbortError") return; // replaced by another file
        progress.value = 0;
        setState("failed", "");
        const messages = error.messages || [{ message: error.message }];
        if (entry.session) {
          // Parts that arrived stay in storage: the same file, picked again, sends only the others.
          messages.push({ message: `Pick ${file.name} again to send the parts that are missing.` });
          fileInput.value = ""; // so that picking the same file again is a change
        }
        showErrors(messages);
      });
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!current) {
        showErrors([{ message: "Choose a file first." }]);
        return;
      }
      button.disabled = true;
      try {
        if (form.dataset.upload === "uploading" || form.dataset.upload === "paused") {
          status.textContent += " Saving when the upload ends…";
        }
        let fileInputData;
        form.dataset.saving = "true";
        try {
          fileInputData = await current.promise;
        } catch (_) {
          return; // the upload's error is already shown
        } finally {
          delete form.dataset.saving;
        }
        showErrors([]);
        const label = kind.label(form);
        const result = (await graphql(kind.mutation, { data: kind.data(form, fileInputData) }))[kind.result];
        if (result.__typename === "OperationInfo") {
          showErrors(result.messages);
          return;
        }
        current = null;
        form.reset();
        reset();
        setState("saved", `Saved “${label}”.`);
        await refreshLists();
      } catch (error) {
        showErrors([{ message: error.message }]);
      } finally {
        button.disabled = false;
      }
    });
  }

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function renderDocuments(documents) {
    const list = document.getElementById("documents");
    list.replaceChildren(
      ...documents.map((doc) => {
        const file = doc.attachment;
        // ``url`` checks the permission and finds the file when followed: a link stays good after a
        // background move, where a signed ``downloadUrl`` would name the temporary key it left.
        const link =
          file && file.url
            ? element("a", { href: file.url, class: "download" }, file.name || "download")
            : element("span", { class: "muted" }, file ? file.name : "no file");
        const when = new Date(doc.createdAt).toLocaleString();
        return element("li", { "data-id": doc.id }, element("strong", {}, doc.title), " ", link, " ", element("small", {}, when));
      }),
    );
    if (!documents.length) list.append(element("li", { class: "empty" }, "No documents yet."));
    list.removeAttribute("aria-busy");
  }

  function renderPhotos(photos) {
    const list = document.getElementById("photos");
    const newestFirst = [...photos].sort((a, b) => Number(b.id) - Number(a.id));
    list.replaceChildren(
      ...newestFirst.map((photo) => {
        const image = photo.image;
        const caption = photo.caption || `Photo ${photo.id}`;
        const size = image && image.width ? ` · ${image.width}×${image.height}` : "";
        const thumbnail =
          image && image.downloadUrl
            ? element(
                "a",
                { href: image.downloadUrl, class: "download" },
                element("img", { src: image.downloadUrl, alt: caption, class: "thumbnail" }),
              )
            : element("span", { class: "muted" }, "no image");
        return element("li", { "data-id": photo.id }, element("figure", {}, thumbnail, element("figcaption", {}, caption + size)));
      }),
    );
    if (!photos.length) list.append(element("li", { class: "empty" }, "No photos yet."));
    list.removeAttribute("aria-busy");
  }

  async function refreshLists() {
    const listError = document.getElementById("list-error");
    try {
      const data = await graphql(LISTS, {});
      renderDocuments(data.documents);
      renderPhotos(data.photos);
      listError.hidden = true;
    } catch (error) {
      listError.textContent = `Could not load the lists: ${error.message}`;
      listError.hidden = false;
    }
  }

  remembered.prune();
  root.querySelectorAll("form.upload").forEach(setUpForm);
  refreshLists();
})();
