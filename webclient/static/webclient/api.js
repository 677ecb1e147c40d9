// The REST client: every call goes through request(), which adds the bearer token,
// sends and reads JSON, and turns the contract's error envelope
// {"error": {"code", "message", "fields"}} into an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, fields = {}, retryAfter = null) {
    super(message || code);
    this.status = status; // 0: the request never got an answer (offline, server down)
    this.code = code;
    this.fields = fields || {};
    this.retryAfter = retryAfter;
  }

  // For people: the message, with what the server said about each field
  // ("The request is not valid. Must be at most 4000 characters after trimming.").
  describe() {
    const details = Object.values(this.fields).flatMap((texts) => [].concat(texts));
    return [this.message, ...details].map((t) => String(t).trim()).filter(Boolean).join(" ");
  }
}

// Any failure as a sentence for people (an ApiError with its field errors).
export function explain(err) {
  if (err instanceof ApiError) return err.describe();
  return String((err && err.message) || err || "Something went wrong.");
}

const BASE = "/api/v1";

export class Api {
  constructor({ token = null, onUnauthorized = () => {} } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { body, query, form } = {}) {
    let url = BASE + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += "?" + text;
    }
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = "Bearer " + this.token;
    let payload;
    if (form) {
      payload = form; // multipart: the browser sets the boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, credentials: "omit" });
    } catch (err) {
      throw new ApiError(0, "network_error", "The server cannot be reached.");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const retry = response.headers.get("Retry-After");
      const failure = new ApiError(
        response.status,
        error.code || "http_" + response.status,
        error.message || response.statusText,
        error.fields,
        retry ? Number(retry) : null,
      );
      if (response.status === 401 && this.token) this.onUnauthorized(failure);
      throw failure;
    }
    return data;
  }

  get(path, query) { return this.request("GET", path, { query }); }
  post(path, body) { return this.request("POST", path, { body: body === undefined ? {} : body }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  patch(path, body) { return this.request("PATCH", path, { body }); }
  del(path) { return this.request("DELETE", path); }

  upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return this.request("POST", "/files", { form });
  }

  // A file's bytes (content or thumbnail) as an object URL: <img> cannot send the token.
  async blobUrl(path) {
    let response;
    try {
      response = await fetch(BASE + path, { headers: { Authorization: "Bearer " + this.token } });
    } catch (err) {
      throw new ApiError(0, "network_error", "The server cannot be reached.");
    }
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || "http_" + response.status, error.message || response.statusText || "The file is not available.");
    }
    return URL.createObjectURL(await response.blob());
  }

  // Every page of a Postgres-backed list ({"results", "next_cursor"}).
  async all(path, query = {}, maxPages = 20) {
    const results = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page++) {
      const data = await this.get(path, { ...query, limit: 200, cursor });
      results.push(...data.results);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return results;
  }
}

// The REST path of a conversation: channels, DMs and group DMs have the same routes below it.
export function conversationPath(conversation) {
  const prefix = { channel: "/channels/", dm: "/dms/", group_dm: "/group-dms/" }[conversation.kind];
  return prefix + conversation.id;
}
