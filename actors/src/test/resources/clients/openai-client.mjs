// Calls a Convoy server the way users' programs do, through the official openai package; prints what it got as JSON.
// Usage: node openai-client.mjs BASE_URL PROMPT
import OpenAI from 'openai';

const [baseURL, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
const model = 'convoy-default';
const out = {};

const whole = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0 });
out.whole = whole.choices[0].text;
out.finish = whole.choices[0].finish_reason;
out.usage = whole.usage;

const stream = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stream: true });
out.streamed = '';
for await (const chunk of stream) {
  out.streamed += chunk.choices[0].text;
}

const seeded = { model, prompt, max_tokens: 16, temperature: 0.8, top_p: 1, seed: 11 };
out.sampled = [(await client.completions.create(seeded)).choices[0].text, (await client.completions.create(seeded)).choices[0].text];

const stopped = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stop: [' man'] });
out.stopped = stopped.choices[0].text;
out.stoppedFinish = stopped.choices[0].finish_reason;

out.errors = {};
for (const [name, call] of Object.entries({
  unknownModel: () => client.completions.create({ model: 'no-such-model', prompt, max_tokens: 2 }),
  badTemperature: () => client.completions.create({ model, prompt, max_tokens: 2, temperature: -1 }),
  noChatTemplate: () => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
})) {
  try {
    await call();
    out.errors[name] = 'no error';
  } catch (e) {
    out.errors[name] = { status: e.status, message: e.message };
  }
}
out.models = (await client.models.list()).data.map((m) => m.id);
console.log(JSON.stringify(out));
