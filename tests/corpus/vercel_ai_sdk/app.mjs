// vercel_ai_sdk: a 3-turn session recorded with the Vercel AI SDK's own OpenTelemetry telemetry
// (ai 6.x `experimental_telemetry`), exported by the Node OpenTelemetry SDK (NodeSDK,
// BatchSpanProcessor, OTLP/gRPC trace exporter) to recording/otlp_sink.py.
//
// What it records: `generateText` with the chat-completions model `openai.chat('gpt-4o-mini')` of
// @ai-sdk/openai pointed at the scripted fake server, one tool (`convert_currency`, via
// `tool({description, inputSchema: z.object(...), execute})`), `stopWhen: stepCountIs(5)`, and
// `experimental_telemetry: {isEnabled: true, functionId: 'chat', metadata: {sessionId: SID}}` (the
// documented way to tag a session: it becomes `ai.telemetry.metadata.sessionId` on every AI SDK
// span). Multi-turn: `messages` is kept and each turn appends `response.messages`. Turn 2 calls the
// tool, turn 3 is a refusal. The session ends with a span 'session end' started with the OTel API
// (`tracer.startActiveSpan`), carrying session_status='completed' and ai.telemetry.metadata.sessionId.
// The fake OpenAI server is started by this app as a child process (python3 fake_openai.py --port 0,
// its port read from its first stdout line); its request log goes to requests.jsonl, which the app
// reads back to check that every tool turn in expected.json is the exact string the model was sent.
//
// Reproduce (node >= 20.6; npm packages live outside the repo, here /work/venvs/rec-c/node):
//   C=/work/main/tests/corpus; S=$C/vercel_ai_sdk; N=/work/venvs/rec-c/node
//   mkdir -p $N && cp $S/package.json $S/package-lock.json $N/ && (cd $N && npm ci)
//   ln -sf $S/app.mjs $N/app.mjs          # so that bare imports resolve from $N/node_modules
//   python3 -m venv /work/venvs/rec-c/py && /work/venvs/rec-c/py/bin/pip install grpcio opentelemetry-proto protobuf
//   PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
//   /work/venvs/rec-c/py/bin/python $C/recording/otlp_sink.py --port $PORT --out $C &
//   FIXTURES=$C FIXTURE_SINK=127.0.0.1:$PORT node --preserve-symlinks-main $N/app.mjs
//   kill %1; /work/venvs/rec-c/py/bin/python $C/recording/show.py $S/otlp.json 400 > $S/tree.txt
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { createOpenAI } from '@ai-sdk/openai';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { generateText, stepCountIs, tool } from 'ai';
import { z } from 'zod';

const NAME = 'vercel_ai_sdk';
const SID = 'sess-vercel-ai-sdk-0007';
const ROOT = process.env.FIXTURES || '.';
const SINK = process.env.FIXTURE_SINK;
if (!SINK) throw new Error('set FIXTURE_SINK=127.0.0.1:<sink port>');
const DIR = path.join(ROOT, NAME);
const TOOLS_DIR = path.join(ROOT, 'recording');

const SYSTEM = 'You are a concise travel assistant.';
const USER = [
  'Can you recommend a day trip from Lisbon?',
  'How much is 80 euros in British pounds?',
  'Great, can you book me a table for dinner in Sintra tonight?',
];
const REPLIES = [
  { text: 'Sintra is a great day trip: about 40 minutes by train, with the Pena Palace, the Moorish Castle and '
      + 'Quinta da Regaleira.', expect: 'Lisbon' },
  { tool_calls: [{ name: 'convert_currency', arguments: { amount: 80, from: 'EUR', to: 'GBP' } }], expect: '80 euros' },
  { text: '80 euros is about 68.40 British pounds.', expect: '68.40' },
  { text: "Sorry, I can't book restaurants for you: I have no access to reservation systems. You could call the "
      + 'restaurant directly or use a booking site.', expect: 'table for dinner' },
];

const NOTES = [
  'Vercel AI SDK telemetry (tracer/scope name "ai"). One trace per generateText call, i.e. per user turn: root',
  'span "ai.generateText" > one "ai.generateText.doGenerate" child per model call (step) and one "ai.toolCall" child',
  'per executed tool, siblings in call order. The session id is ai.telemetry.metadata.sessionId (from',
  'experimental_telemetry.metadata.sessionId) on EVERY ai.* span, beside ai.telemetry.functionId="chat",',
  'operation.name="<ai.operationId> chat" and resource.name="chat". The "session end" span is the app\'s own (OTel API',
  'tracer "vercel-ai-sdk-recording-app", its own trace; the AI SDK has no session context to put it in), carrying',
  'session_status="completed" and ai.telemetry.metadata.sessionId, the key the SDK uses on its own spans.',
  'Content attributes, all JSON strings: (1) ai.generateText (root): ai.prompt = {"system": str, "messages": [...]}',
  'exactly as the app passed them (whole history; user content a plain string, assistant/tool content part arrays),',
  'ai.response.text = final answer of the turn, ai.response.toolCalls only if the LAST step called tools (not here), so',
  'the root of the tool turn does not show the tool call at all. (2) ai.generateText.doGenerate: ai.prompt.messages =',
  'the provider-level prompt of that step, whole history INCLUDING {"role":"system","content":str}, every user content',
  'as [{"type":"text","text"}], assistant [{"type":"text","text"}] or [{"type":"tool-call","toolCallId","toolName",',
  '"input":object}], tool [{"type":"tool-result","toolCallId","toolName","output":{"type":"text","value":str}}]',
  '(output {"type":"json","value":obj} when a tool returns a non-string); ai.prompt.tools = array of JSON strings;',
  'ai.prompt.toolChoice; ai.response.text (absent on the tool-calling step, whose text is empty);',
  'ai.response.toolCalls = [{"toolCallId","toolName","input"}] with input a JSON STRING verbatim from the model',
  '(here with spaces; the SDK re-serializes it compactly when it sends the history back). (3) ai.toolCall:',
  'ai.toolCall.name, ai.toolCall.id, ai.toolCall.args (compact JSON string of the arguments), ai.toolCall.result =',
  'JSON.stringify of the tool\'s return value, so a string result is QUOTED ("\\"80 EUR = ...\\"") while the model got',
  'the bare string (the chat-completions tool message carries output.value verbatim for text outputs, JSON.stringify',
  'for json outputs; checked against the fake server\'s requests.jsonl). Duplication: every doGenerate repeats the',
  'whole history, each root repeats the earlier turns in ai.prompt, the final answer is on both root and last',
  'doGenerate; earlier turns (incl. the tool call and result) reappear in later turns\' prompts. Assistant messages',
  'that only call tools have no text part. Roles used: system (only in doGenerate ai.prompt.messages; the root',
  'ai.prompt has the system prompt as its top-level "system" key), user, assistant, tool (tool results only as',
  'role "tool" parts, linked by toolCallId = ai.toolCall.id). All spans are kind INTERNAL. No gen_ai.* content',
  'attributes: gen_ai.* holds only metadata on doGenerate spans',
  '(gen_ai.system="openai.chat", gen_ai.request.model, gen_ai.response.finish_reasons ["tool-calls"|"stop"],',
  'gen_ai.response.id/.model, gen_ai.usage.input_tokens/.output_tokens). No span events, no log records.',
  'ai.response.finishReason is "tool-calls" / "stop". Model via openai.chat() (Chat Completions).',
].join(' ');

// ------------------------------------------------------------ scenario folder + fake OpenAI server
fs.mkdirSync(DIR, { recursive: true });
for (const f of ['otlp.json', 'otlp_logs.json', 'requests.jsonl']) fs.rmSync(path.join(DIR, f), { force: true });
fs.writeFileSync(path.join(DIR, 'script.json'), JSON.stringify(REPLIES, null, 1));

const fake = spawn('python3', [path.join(TOOLS_DIR, 'fake_openai.py'), '--script', path.join(DIR, 'script.json'),
  '--port', '0', '--log', path.join(DIR, 'requests.jsonl')], { stdio: ['ignore', 'pipe', 'inherit'] });
const baseURL = await new Promise((resolve, reject) => {
  fake.on('exit', (code) => reject(new Error(`fake server exited ${code}`)));
  readline.createInterface({ input: fake.stdout }).once('line', (line) => {
    const m = line.match(/(http:\/\/127\.0\.0\.1:\d+\/v1)/);
    m ? resolve(m[1]) : reject(new Error(`unexpected fake server output: ${line}`));
  });
});

// ------------------------------------------------------------ OpenTelemetry (NodeSDK -> OTLP/gRPC sink)
process.env.OTEL_LOGS_EXPORTER ??= 'none';      // this app records spans only
process.env.OTEL_METRICS_EXPORTER ??= 'none';
const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': NAME }),
  traceExporter: new OTLPTraceExporter({ url: `http://${SINK}` }),
});
sdk.start();

// ------------------------------------------------------------ the app
const openai = createOpenAI({ baseURL, apiKey: 'test' });
const model = openai.chat('gpt-4o-mini');

const convertCurrency = tool({
  description: 'Convert an amount between currencies',
  inputSchema: z.object({ amount: z.number(), from: z.string(), to: z.string() }),
  execute: async ({ amount, from, to }) => {
    const rate = 0.855;
    return `${amount} ${from} = ${(amount * rate).toFixed(2)} ${to} (rate ${rate})`;  // a plain string
  },
});

const messages = [];
const turns = [];

function addTurns(newMessages) {
  for (const m of newMessages) {
    const parts = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    if (m.role === 'user') {
      turns.push({ role: 'user', content: parts.filter((p) => p.type === 'text').map((p) => p.text).join('') });
    } else if (m.role === 'assistant') {
      const calls = parts.filter((p) => p.type === 'tool-call');
      const turn = { role: 'assistant', content: parts.filter((p) => p.type === 'text').map((p) => p.text).join('') };
      if (calls.length) turn.tool_calls = calls.map((c) => ({ name: c.toolName, arguments: c.input }));
      turns.push(turn);
    } else if (m.role === 'tool') {
      for (const r of parts.filter((p) => p.type === 'tool-result')) {
        // what @ai-sdk/openai puts in the chat-completions tool message: text outputs verbatim, json JSON.stringify'd
        const o = r.output;
        turns.push({ role: 'tool', content: o.type === 'text' || o.type === 'error-text' ? o.value : JSON.stringify(o.value) });
      }
    }
  }
}

for (const text of USER) {
  const userMsg = { role: 'user', content: text };
  messages.push(userMsg);
  addTurns([userMsg]);
  const result = await generateText({
    model,
    system: SYSTEM,
    messages,
    tools: { convert_currency: convertCurrency },
    stopWhen: stepCountIs(5),
    experimental_telemetry: { isEnabled: true, functionId: 'chat', metadata: { sessionId: SID } },
  });
  messages.push(...result.response.messages);
  addTurns(result.response.messages);
  console.log(result.text);
}

trace.getTracer('vercel-ai-sdk-recording-app').startActiveSpan('session end', {
  attributes: { session_status: 'completed', 'ai.telemetry.metadata.sessionId': SID },
}, (span) => span.end());

await sdk.shutdown();   // flushes the BatchSpanProcessor
fake.kill();

// ------------------------------------------------------------ check tool turns against what the model was sent
const requests = fs.readFileSync(path.join(DIR, 'requests.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const sentToolContents = [...new Set(requests.flatMap((r) => r.body.messages.filter((m) => m.role === 'tool').map((m) => m.content)))];
const toolTurns = turns.filter((t) => t.role === 'tool').map((t) => t.content);
if (JSON.stringify(sentToolContents) !== JSON.stringify(toolTurns)) {
  throw new Error(`tool turns ${JSON.stringify(toolTurns)} differ from what the model was sent ${JSON.stringify(sentToolContents)}`);
}

// ------------------------------------------------------------ expected.json
const pkgVersion = (p) => JSON.parse(fs.readFileSync(new URL(`./node_modules/${p}/package.json`, import.meta.url))).version;
const library = ['ai', '@ai-sdk/openai', '@opentelemetry/sdk-node', '@opentelemetry/exporter-trace-otlp-grpc',
  '@opentelemetry/api'].map((p) => `${p} ${pkgVersion(p)}`).join(', ') + `, node ${process.versions.node}`;
fs.writeFileSync(path.join(DIR, 'expected.json'), JSON.stringify({
  session_id: SID, library, turns,
  end_marker: { attribute: 'session_status', value: 'completed' },
  notes: NOTES,
}, null, 1) + '\n');
console.log('ok', NAME);
