// Every GraphQL operation the page sends. The build also writes them to
// operations.json, a manifest for servers that run only registered operations
// (INFERQL_ALLOWED_OPERATIONS_PATH).
const JOB_FIELDS = `
  id status createdAt finishedAt
  model { name version }
  progress { done total }
  predictions { label score }
  error { code message }`;

export const STATS = `subscription Stats($interval: Int!) {
  stats(intervalMs: $interval) {
    windowSeconds textsPerSecond queueDepth batches meanBatchSize
    latencyP50Ms latencyP95Ms workersAlive
    jobs { queued running succeeded failed canceled }
  }
}`;
export const JOB_EVENTS = `subscription JobEvents { jobEvents { type job { ${JOB_FIELDS} } } }`;
export const RECENT_JOBS = `query RecentJobs($first: Int!) { jobs(first: $first) { edges { node { ${JOB_FIELDS} } } } }`;
export const MODELS = `query Models { models { name latest { version labels } } }`;
export const SUBMIT = `mutation Submit($input: SubmitClassificationInput!) {
  submitClassification(input: $input) { ${JOB_FIELDS} }
}`;
export const FOLLOW = `subscription Follow($id: ID!) {
  job(id: $id) { type job { ${JOB_FIELDS} predictions { label score cached scores { label score } } } }
}`;
