// Runs SPARQL queries with Comunica over the given sources and prints one JSON document:
//   {"results": [{"resultType", "mediaType", "body"} | {"error"}, ...],   one per query, in order
//    "requests": [{"method", "url", "accept", "status", "contentType", "redirected", "finalUrl"}, ...]}
// "body" is Comunica's own serialisation of the result: SPARQL JSON results (parsed) for
// SELECT and ASK, N-Triples text for CONSTRUCT and DESCRIBE. "requests" lists every HTTP
// request Comunica made (its own Accept header, and where fetch's redirects ended).
//
// Usage: node query.mjs --source [sparql@]URL [--source ...] --query QUERY [--query ...]
// A source written sparql@URL is a SPARQL endpoint; a bare URL is a document Comunica
// dereferences. Several queries share one engine, so one process (about a second of
// start-up) answers a whole batch. Exit status 1 when any query failed.
import { QueryEngine } from '@comunica/query-sparql';

const MEDIA_TYPES = {
  bindings: 'application/sparql-results+json',
  boolean: 'application/sparql-results+json',
  quads: 'application/n-triples',
};

function parseArguments(argv) {
  const sources = [];
  const queries = [];
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--source') sources.push(toSource(value));
    else if (flag === '--query') queries.push(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (sources.length === 0 || queries.length === 0) {
    throw new Error('usage: node query.mjs --source [sparql@]URL ... --query QUERY ...');
  }
  return { sources, queries };
}

function toSource(value) {
  return value.startsWith('sparql@') ? { type: 'sparql', value: value.slice('sparql@'.length) } : value;
}

// Comunica takes a fetch function from its context; this one records each exchange
// and otherwise leaves the request exactly as Comunica built it.
function recordingFetch(requests) {
  return async (input, init = {}) => {
    const response = await fetch(input, init);
    requests.push({
      method: init.method ?? 'GET',
      url: typeof input === 'string' ? input : input.url,
      accept: new Headers(init.headers).get('accept'),
      status: response.status,
      contentType: response.headers.get('content-type'),
      redirected: response.redirected,
      finalUrl: response.url,
    });
    return response;
  };
}

async function readStream(stream) {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}

async function runQuery(engine, query, context) {
  try {
    const result = await engine.query(query, context);
    const mediaType = MEDIA_TYPES[result.resultType];
    const { data } = await engine.resultToString(result, mediaType);
    const text = await readStream(data);
    const body = mediaType === 'application/n-triples' ? text : JSON.parse(text);
    return { resultType: result.resultType, mediaType, body };
  } catch (error) {
    return { error: String(error?.message ?? error) };
  }
}

const { sources, queries } = parseArguments(process.argv.slice(2));
const requests = [];
const engine = new QueryEngine();
const context = { sources, fetch: recordingFetch(requests), lenient: false, httpTimeout: 60_000 };
const results = [];
for (const query of queries) results.push(await runQuery(engine, query, context));
process.stdout.write(`${JSON.stringify({ results, requests })}\n`);
process.exitCode = results.some((result) => 'error' in result) ? 1 : 0;
