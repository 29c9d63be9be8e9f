// A typed client for the example project's GraphQL API: the whole async upload flow,
// written against the types generated from schema.graphql (src/generated/graphql.ts).
//
//   1. generateUploadUrl  -> a temporary key and an upload target {url, method, fields, headers, ...}
//   2. upload the bytes straight to the target (S3 presigned POST, Azure SAS PUT, or the Django server)
//   3. createDocument / updateDocument with {key, name}: the file moves to its permanent name
//
// `tsc --noEmit` over this file (scripts/codegen-check.sh) is the proof that the generated types
// are usable: a schema change that breaks this flow breaks the build.

import {
  AbortMultipartUploadDocument,
  CompleteMultipartUploadDocument,
  CreateDocumentDocument,
  CreatePhotoDocument,
  ListDocumentsDocument,
  ListPhotosDocument,
  RequestUploadUrlDocument,
  RequestUploadUrlsDocument,
  SignUploadPartsDocument,
  StartMultipartUploadDocument,
  UpdateDocumentDocument,
  UploadedPartsDocument,
} from "./generated/graphql";
import type {
  AsyncFileInput,
  AsyncUploadField,
  CreateDocumentMutation,
  CreatePhotoMutation,
  GenerateUploadUrlInput,
  ListDocumentsQuery,
  ListPhotosQuery,
  RequestUploadUrlMutation,
  SignUploadPartsMutation,
  StartMultipartUploadInput,
  StartMultipartUploadMutation,
  TypedDocumentString,
  UpdateDocumentMutation,
  UploadProvider,
} from "./generated/graphql";

// ---- types derived from the generated operation results -------------------------------------

type UploadUrlResult = RequestUploadUrlMutation["generateUploadUrl"];
export type IssuedUpload = Extract<UploadUrlResult, { __typename: "IssuedUpload" }>;
export type UploadTarget = IssuedUpload["upload"];
export type OperationMessage = Extract<UploadUrlResult, { __typename: "OperationInfo" }>["messages"][number];

export type Document = Extract<CreateDocumentMutation["createDocument"], { __typename: "DocumentType" }>;
export type UpdatedDocument = Extract<UpdateDocumentMutation["updateDocument"], { __typename: "DocumentType" }>;
export type Photo = Extract<CreatePhotoMutation["createPhoto"], { __typename: "PhotoType" }>;
export type ListedDocument = ListDocumentsQuery["documents"][number];
export type ListedPhoto = ListPhotosQuery["photos"][number];
export type MultipartSession = Extract<
  StartMultipartUploadMutation["startMultipartUpload"],
  { __typename: "MultipartUpload" }
>;
export type SignedPart = Extract<
  SignUploadPartsMutation["signUploadParts"],
  { __typename: "SignedUploadParts" }
>["parts"][number];

/** The `code` values of OperationMessage that clients branch on (docs/graphql.md). */
export type OperationCode =
  | "permission_denied"
  | "not_found"
  | "invalid_file_type"
  | "file_too_large"
  | "invalid_key"
  | "invalid_input"
  | "invalid_image"
  | "quota_exceeded"
  | "upload_session_closed";

// ---- errors ---------------------------------------------------------------------------------

/** The mutation answered with OperationInfo: the request was understood and refused. */
export class OperationError extends Error {
  readonly messages: readonly OperationMessage[];

  constructor(messages: readonly OperationMessage[]) {
    super(messages.map((m) => (m.field ? `${m.field}: ${m.message}` : m.message)).join("; ") || "operation failed");
    this.name = "OperationError";
    this.messages = messages;
  }

  /** True when any message carries this code (e.g. "file_too_large"). */
  hasCode(code: OperationCode): boolean {
    return this.messages.some((m) => m.code === code);
  }

  /** Messages for one input field, for showing next to it in a form. */
  forField(field: string): OperationMessage[] {
    return this.messages.filter((m) => m.field === field);
  }
}

interface GraphQLErrorShape {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

/** Transport or GraphQL-level failure (HTTP error, `errors` in the response, no `data`). */
export class GraphQLRequestError extends Error {
  readonly status: number;
  readonly errors: readonly GraphQLErrorShape[];

  constructor(message: string, status: number, errors: readonly GraphQLErrorShape[] = []) {
    super(message);
    this.name = "GraphQLRequestError";
    this.status = status;
    this.errors = errors;
  }
}

/** The upload to the storage target was refused (expired URL, too large, wrong type, ...). */
export class UploadError extends Error {
  readonly status: number;
  readonly provider: UploadProvider;
  readonly body: string;

  constructor(status: number, provider: UploadProvider, body: string) {
    super(`upload to ${provider} storage failed with HTTP ${status}`);
    this.name = "UploadError";
    this.status = status;
    this.provider = provider;
    this.body = body;
  }
}

// ---- transport ------------------------------------------------------------------------------

export interface ClientOptions {
  /** The GraphQL endpoint; the example project serves it at /graphql/. */
  endpoint?: string;
  /** Django's CSRF token, needed with session authentication; read from the csrftoken cookie by default. */
  csrfToken?: string | null;
  /** Extra headers for the GraphQL requests (e.g. Authorization for token clients). */
  headers?: Record<string, string>;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
}

function csrfTokenFromCookie(): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return null;
}

export class AsyncUploadsClient {
  private readonly endpoint: string;
  private readonly csrfToken: string | null;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.endpoint = options.endpoint ?? "/graphql/";
    this.csrfToken = options.csrfToken !== undefined ? options.csrfToken : csrfTokenFromCookie();
    this.headers = options.headers ?? {};
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Run one generated operation: the result and variables types come from the document. */
  async execute<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    signal?: AbortSignal,
  ): Promise<TResult> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      ...this.headers,
    };
    if (this.csrfToken) headers["X-CSRFToken"] = this.csrfToken;
    const init: RequestInit = {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: JSON.stringify({ query: document.toString(), variables }),
    };
    if (signal) init.signal = signal;
    const response = await this.fetchImpl(this.endpoint, init);
    let body: { data?: TResult | null; errors?: GraphQLErrorShape[] };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new GraphQLRequestError(`GraphQL endpoint answered HTTP ${response.status} without JSON`, response.status);
    }
    if (body.errors && body.errors.length > 0) {
      const first = body.errors[0]?.message ?? "GraphQL error";
      throw new GraphQLRequestError(first, response.status, body.errors);
    }
    if (!response.ok || body.data == null) {
      throw new GraphQLRequestError(`GraphQL endpoint answered HTTP ${response.status} without data`, response.status);
    }
    return body.data;
  }

  // ---- step 1: an upload target ----

  async requestUploadUrl(input: GenerateUploadUrlInput, signal?: AbortSignal): Promise<IssuedUpload> {
    const data = await this.execute(RequestUploadUrlDocument, { input }, signal);
    return issuedOrThrow(data.generateUploadUrl);
  }

  /** One answer per input, in order: an IssuedUpload or the OperationError for that file. */
  async requestUploadUrls(
    inputs: GenerateUploadUrlInput[],
    signal?: AbortSignal,
  ): Promise<Array<IssuedUpload | OperationError>> {
    const data = await this.execute(RequestUploadUrlsDocument, { input: inputs }, signal);
    return data.generateUploadUrls.map((result) =>
      result.__typename === "IssuedUpload" ? result : new OperationError(result.messages),
    );
  }

  // ---- step 3: the record ----

  async createDocument(title: string, attachment: AsyncFileInput | null, signal?: AbortSignal): Promise<Document> {
    const data = await this.execute(CreateDocumentDocument, { data: { title, attachment } }, signal);
    const result = data.createDocument;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
    return result;
  }

  /** `attachment: null` clears the field; leaving it out keeps the current file. */
  async updateDocument(
    id: string,
    changes: { title?: string; attachment?: AsyncFileInput | null },
    signal?: AbortSignal,
  ): Promise<UpdatedDocument> {
    const data = await this.execute(UpdateDocumentDocument, { data: { id, ...changes } }, signal);
    const result = data.updateDocument;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
    return result;
  }

  async createPhoto(caption: string | null, image: AsyncFileInput, signal?: AbortSignal): Promise<Photo> {
    const data = await this.execute(CreatePhotoDocument, { data: { caption, image } }, signal);
    const result = data.createPhoto;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
    return result;
  }

  async listDocuments(signal?: AbortSignal): Promise<ListedDocument[]> {
    return (await this.execute(ListDocumentsDocument, {}, signal)).documents;
  }

  async listPhotos(signal?: AbortSignal): Promise<ListedPhoto[]> {
    return (await this.execute(ListPhotosDocument, {}, signal)).photos;
  }

  // ---- large files, in parts ----

  async startMultipartUpload(input: StartMultipartUploadInput, signal?: AbortSignal): Promise<MultipartSession> {
    const result = (await this.execute(StartMultipartUploadDocument, { input }, signal)).startMultipartUpload;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
    return result;
  }

  async signUploadParts(session: MultipartSession, partNumbers: number[], signal?: AbortSignal): Promise<SignedPart[]> {
    const input = { key: session.key, uploadId: session.uploadId, partNumbers };
    const result = (await this.execute(SignUploadPartsDocument, { input }, signal)).signUploadParts;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
    return result.parts;
  }

  /** Upload `file` in parts, sending only those storage does not hold yet (a resumed session), then complete. */
  async uploadInParts(session: MultipartSession, file: Blob, signal?: AbortSignal): Promise<string> {
    const ids = { key: session.key, uploadId: session.uploadId };
    const held = (await this.execute(UploadedPartsDocument, ids, signal)).uploadedParts;
    const have = new Set(held.map((p) => p.partNumber));
    const missing: number[] = [];
    for (let n = 1; n <= session.partCount; n++) if (!have.has(n)) missing.push(n);
    const partSize = Number(session.partSize);
    for (let i = 0; i < missing.length; i += 100) {
      for (const part of await this.signUploadParts(session, missing.slice(i, i + 100), signal)) {
        const headers = new Headers();
        for (const { name, value } of part.headers) headers.set(name, value);
        const start = (part.partNumber - 1) * partSize;
        const init: RequestInit = { method: part.method, headers, body: file.slice(start, start + partSize), credentials: "omit" };
        if (signal) init.signal = signal;
        const response = await this.fetchImpl(part.url, init);
        if (!response.ok) throw new UploadError(response.status, "OTHER", await response.text().catch(() => ""));
      }
    }
    const done = (await this.execute(CompleteMultipartUploadDocument, { input: ids }, signal)).completeMultipartUpload;
    if (done.__typename === "OperationInfo") throw new OperationError(done.messages);
    return done.key;
  }

  async abortMultipartUpload(session: MultipartSession, signal?: AbortSignal): Promise<void> {
    const input = { key: session.key, uploadId: session.uploadId };
    const result = (await this.execute(AbortMultipartUploadDocument, { input }, signal)).abortMultipartUpload;
    if (result.__typename === "OperationInfo") throw new OperationError(result.messages);
  }

  // ---- the whole flow ----

  /** Request a target for `field`, upload `file` to it, and return the value to submit. */
  async uploadForField(
    field: AsyncUploadField,
    file: File,
    options: { instanceId?: string; dimensions?: { width: number; height: number }; signal?: AbortSignal } = {},
  ): Promise<AsyncFileInput> {
    const input: GenerateUploadUrlInput = {
      field,
      filename: file.name,
      contentType: file.type || null,
      size: file.size,
    };
    if (options.instanceId !== undefined) input.instanceId = options.instanceId;
    const issued = await this.requestUploadUrl(input, options.signal);
    await uploadToTarget(issued.upload, file, { fetch: this.fetchImpl, signal: options.signal });
    const value: AsyncFileInput = { key: issued.key, name: file.name };
    if (options.dimensions) {
      value.width = options.dimensions.width;
      value.height = options.dimensions.height;
    }
    return value;
  }

  /** Request URL -> upload -> createDocument. */
  async createDocumentWithFile(title: string, file: File, signal?: AbortSignal): Promise<Document> {
    const field: AsyncUploadField = "EXAMPLE_DOCUMENT_ATTACHMENT";
    const attachment = await this.uploadForField(field, file, signal ? { signal } : {});
    return this.createDocument(title, attachment, signal);
  }

  /** Request URL (checked against the record) -> upload -> updateDocument. */
  async replaceDocumentFile(id: string, file: File, signal?: AbortSignal): Promise<UpdatedDocument> {
    const attachment = await this.uploadForField("EXAMPLE_DOCUMENT_ATTACHMENT", file, {
      instanceId: id,
      ...(signal ? { signal } : {}),
    });
    return this.updateDocument(id, { attachment }, signal);
  }
}

function issuedOrThrow(result: UploadUrlResult): IssuedUpload {
  switch (result.__typename) {
    case "IssuedUpload":
      return result;
    case "OperationInfo":
      throw new OperationError(result.messages);
    default: {
      const unexpected: never = result;
      throw new Error(`unexpected generateUploadUrl result ${JSON.stringify(unexpected)}`);
    }
  }
}

// ---- step 2: the upload itself --------------------------------------------------------------

/**
 * Send the file to the upload target exactly as it describes: a multipart POST with `fields`
 * first (in order) and the file as `fileFieldName` last (S3 presigned POST, the Django server), or
 * a PUT whose body is the file (Azure SAS). `headers` go on the request either way.
 */
export async function uploadToTarget(
  target: UploadTarget,
  file: Blob & { name?: string },
  options: { fetch?: typeof fetch; signal?: AbortSignal | undefined } = {},
): Promise<Response> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const headers = new Headers();
  for (const { name, value } of target.headers) headers.set(name, value);

  let body: BodyInit;
  switch (target.method) {
    case "POST": {
      if (!target.fileFieldName) throw new Error("the upload target is a POST but names no file field");
      const form = new FormData();
      for (const { name, value } of target.fields) form.append(name, value);
      form.append(target.fileFieldName, file, file.name ?? "upload");
      body = form;
      break;
    }
    case "PUT":
      body = file;
      break;
    default: {
      const unknownMethod: never = target.method;
      throw new Error(`unsupported upload method ${String(unknownMethod)}`);
    }
  }

  if (target.expiresAt !== null && Date.parse(target.expiresAt) <= Date.now()) {
    throw new Error("the upload URL has expired; request a new one");
  }

  const init: RequestInit = {
    method: target.method,
    headers,
    body,
    // Storage on another origin (S3, Azure) must not get the site's cookies; the Django server's
    // upload view is signed, so it needs none either.
    credentials: "omit",
  };
  if (options.signal) init.signal = options.signal;
  const response = await fetchImpl(target.url, init);
  if (!response.ok) {
    throw new UploadError(response.status, target.provider, await response.text().catch(() => ""));
  }
  return response;
}
