// The page talks only GraphQL: queries and mutations over HTTP POST, subscriptions
// over graphql-transport-ws with the graphql-ws client. An optional API key is kept
// in sessionStorage and sent as any client sends it: `Authorization: Bearer` on HTTP
// and in the connection_init payload on the websocket.
import { createClient } from "graphql-ws";

const KEY = "inferql.apiKey";
const httpUrl = new URL("/graphql", window.location.href).toString();
const wsUrl = httpUrl.replace(/^http/, "ws");

export function apiKey() {
  return window.sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) window.sessionStorage.setItem(KEY, value);
  else window.sessionStorage.removeItem(KEY);
}

function authorization() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "INTERNAL";
  }
}

/** One query or mutation over HTTP; throws GraphQLRequestError on GraphQL errors. */
export async function request(query, variables = {}) {
  const response = await fetch(httpUrl, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      ...authorization(),
    },
    body: JSON.stringify({ query, variables }),
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLRequestError([{ message: `HTTP ${response.status}` }]);
  }
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  return body.data;
}

/** A websocket client that reconnects, and rebuilds when the key changes. */
export function connect({ onState }) {
  return createClient({
    url: wsUrl,
    connectionParams: authorization,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** retries)));
    },
    on: {
      connecting: () => onState("connecting"),
      connected: () => onState("live"),
      closed: () => onState("offline"),
    },
  });
}

/** Subscribe with callbacks; returns the function that stops it. */
export function subscribe(client, query, variables, { next, error, complete }) {
  return client.subscribe(
    { query, variables },
    {
      next: (message) => {
        if (message.errors?.length) error(new GraphQLRequestError(message.errors));
        else next(message.data);
      },
      error: (e) =>
        error(Array.isArray(e) ? new GraphQLRequestError(e) : new Error(e?.reason || String(e))),
      complete: complete ?? (() => {}),
    },
  );
}
