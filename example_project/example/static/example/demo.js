// The example project's demo page: uploads straight to storage, through the GraphQL API only.
//
// Picking a file asks generateUploadUrl for a signed upload target and uploads the file there at
// once (XMLHttpRequest, for its progress events) while the user fills in the rest of the form;
// submitting the form sends createDocument / createPhoto with the upload's key. No dependencies,
// no build step. The operations below are checked against schema.graphql by
// tests/test_browser_demo.py.
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
      documents { id title createdAt attachment { name downloadUrl } }
      photos { id caption image { name downloadUrl width height } }
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
    const response = await fetch(ENDPOINT, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": CSRF_TOKEN },
      body: JSON.stringify({ query, variables }),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // not JSON: a CSRF failure or a server error page
    }
    if (body && Array.isArray(body.errors) && body.errors.length) {
      throw new Error(body.errors.map((e) => e.message).join(" "));
    }
    if (!response.ok || !body || !body.data) {
      throw new Error(`The GraphQL request failed (HTTP ${response.status}). Reload the page and sign in again.`);
    }
    return body.data;
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

  /** Wire one upload form: the file uploads when picked, the record is created on submit. */
  function setUpForm(form) {
    const kind = KINDS[form.dataset.kind];
    const fileInput = form.elements.file;
    const progress = form.querySelector("progress");
    const status = form.querySelector(".status");
    const errors = form.querySelector(".errors");
    const button = form.querySelector("button[type=submit]");
    // The current file's upload: {file, promise (resolves to AsyncFileInput), abort}.
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
      }
    }

    function setState(state, text) {
      form.dataset.upload = state; // idle | uploading | uploaded | failed | saved
      status.textContent = text;
      // The bar shows an upload: none before a file is picked, none beside a refusal or "Saved".
      progress.hidden = state !== "uploading" && state !== "uploaded";
    }

    function reset() {
      if (current) current.abort();
      current = null;
      progress.max = 1;
      progress.value = 0;
      setState("idle", "");
      showErrors([]);
    }

    async function start(entry) {
      const file = entry.file;
      const dimensions = form.dataset.kind === "photo" ? await imageSize(file) : null;
      const data = await graphql(REQUEST_UPLOAD_URL, {
        input: { field: kind.field, filename: file.name, contentType: file.type || null, size: file.size },
      });
      const issued = data.generateUploadUrl;
      if (issued.__typename === "OperationInfo") {
        const error = new Error("refused");
        error.messages = issued.messages;
        throw error;
      }
      if (current !== entry) throw new DOMException("upload replaced", "AbortError");
      setState("uploading", `Uploading ${file.name} (${formatSize(file.size)}) to ${PROVIDERS[issued.upload.provider]}…`);
      const transfer = upload(issued.upload, file, progress);
      entry.abort = transfer.abort;
      await transfer.done;
      progress.max = Math.max(file.size, 1);
      progress.value = progress.max;
      setState("uploaded", `Uploaded ${file.name} (${formatSize(file.size)}) to ${PROVIDERS[issued.upload.provider]}.`);
      return { key: issued.key, name: file.name, ...(dimensions || {}) };
    }

    fileInput.addEventListener("change", () => {
      reset();
      const file = fileInput.files[0];
      if (!file) return;
      setState("uploading", `Asking for an upload URL for ${file.name}…`);
      const entry = { file, abort: () => {} };
      current = entry;
      entry.promise = start(entry);
      entry.promise.catch((error) => {
        if (current !== entry || error.name === "AbortError") return; // replaced by another file
        progress.value = 0;
        setState("failed", "");
        showErrors(error.messages || [{ message: error.message }]);
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
        if (form.dataset.upload === "uploading") status.textContent += " Saving when the upload ends…";
        let fileInputData;
        try {
          fileInputData = await current.promise;
        } catch (_) {
          return; // the upload's error is already shown
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
        const link =
          file && file.downloadUrl
            ? element("a", { href: file.downloadUrl, class: "download" }, file.name || "download")
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

  root.querySelectorAll("form.upload").forEach(setUpForm);
  refreshLists();
})();
