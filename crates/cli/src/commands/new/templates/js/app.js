// The `{{name}}` toolhost plugin: one tool, `{{name}}.hello`.
// Built with componentize-js against wit/plugin.wit (toolhost:plugin@0.2.0, world `plugin`).
// Host imports need the version in the specifier. A thrown {kind, message} object becomes the
// WIT tool-error; any other exception traps the call.
import { log } from 'toolhost:plugin/host@0.2.0';

const SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', description: 'Who to greet' } },
  required: ['name'],
};

function toolError(kind, message) {
  return { kind, message, retryable: undefined, retryAfterMs: undefined, details: undefined };
}

export const tool = {
  describe() {
    return [{
      name: '{{name}}.hello',
      title: 'Say hello',
      description: 'Greet someone by name.',
      inputSchema: JSON.stringify(SCHEMA),
      outputSchema: undefined,
      idempotent: true,
      // Hints for clients: it changes nothing, the same name gives the same greeting, and it
      // reaches nothing outside the call.
      annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
      icons: [],
      longRunning: false,
    }];
  },

  call(name, args, ctx) {
    if (name !== '{{name}}.hello') throw toolError('not-found', `no tool named ${name}`);
    let who;
    try {
      who = JSON.parse(args).name ?? 'world';
    } catch (e) {
      throw toolError('invalid-input', `arguments are not JSON: ${e.message}`);
    }
    log('debug', `call ${ctx.callId} greets ${who}`);
    return { value: JSON.stringify({ greeting: `Hello, ${who}!` }), content: [] };
  },
};
