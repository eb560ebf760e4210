// toolhost example plugin `textkit` (JavaScript, built with componentize-js).
//
// | tool | args | value |
// |---|---|---|
// | `js.markdown_table` | `{"rows", "columns"?}` | `{"markdown","rows","columns"}` (+ the table as a text block) |
// | `js.csv_parse` | `{"csv", "header"?, "delimiter"?}` | `{"columns"?,"rows","count"}` |
//
// Contract: toolhost:plugin@0.2.0 (<repo>/wit/plugin.wit, world `plugin`).
//
// Binding conventions of componentize-js 0.23:
// - the `tool` export is an object named `tool` with `describe()` and `call()`;
// - WIT records are objects with camelCase fields, enums are strings ('invalid-input'),
//   variants are `{ tag, val }`, `option<T>` is `undefined` for none, u64 is a BigInt;
// - for `result<tool-output, tool-error>`, returning a value is `ok`, throwing is `err`:
//   the thrown value itself must be the `tool-error` record (a plain object, not an Error).
import { log } from 'toolhost:plugin/host@0.2.0';

const SCHEMA = 'https://json-schema.org/draft/2020-12/schema';

/** A failure reported to the caller as a WIT `tool-error` (see `call` below). */
class ToolFailure {
  constructor(kind, message, details) {
    this.kind = kind;
    this.message = message;
    this.details = details;
  }
}

const invalid = (message, details) => new ToolFailure('invalid-input', message, details);

// --- js.markdown_table ----------------------------------------------------------------------

const TABLE_INPUT = {
  $schema: SCHEMA,
  type: 'object',
  properties: {
    rows: {
      type: 'array',
      items: { type: 'object' },
      maxItems: 10000,
      description: 'The table rows: one object per row, keys are column names.',
    },
    columns: {
      type: 'array',
      items: { type: 'string' },
      uniqueItems: true,
      description:
        'Columns to show, in order (default: every key, in order of first appearance). ' +
        'Each must be a key of at least one row.',
    },
  },
  required: ['rows'],
  additionalProperties: false,
};

const TABLE_OUTPUT = {
  $schema: SCHEMA,
  type: 'object',
  properties: {
    markdown: { type: 'string', description: 'The GitHub-flavoured Markdown table.' },
    rows: { type: 'integer', description: 'Number of body rows.' },
    columns: { type: 'array', items: { type: 'string' }, description: 'Columns shown, in order.' },
  },
  required: ['markdown', 'rows', 'columns'],
};

/** Text of one cell: strings as they are, other values as JSON; `|` and newlines escaped. */
function cellText(value) {
  if (value === undefined || value === null) return '';
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, '<br>');
}

function markdownTable(args) {
  const rows = args.rows;
  if (!Array.isArray(rows) || rows.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    throw invalid('`rows` must be an array of objects', { field: 'rows' });
  }
  const keys = [];
  const seen = new Set();
  for (const row of rows) {
    for (const k of Object.keys(row)) {
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  }
  let columns = keys;
  if (args.columns !== undefined) {
    if (!Array.isArray(args.columns) || args.columns.some((c) => typeof c !== 'string')) {
      throw invalid('`columns` must be an array of strings', { field: 'columns' });
    }
    if (new Set(args.columns).size !== args.columns.length) {
      throw invalid('`columns` has duplicates', { field: 'columns' });
    }
    const unknown = args.columns.filter((c) => !seen.has(c));
    if (unknown.length > 0) {
      throw invalid(
        `unknown column(s) ${unknown.map((c) => JSON.stringify(c)).join(', ')}: no row has them; ` +
          `known columns: ${keys.map((c) => JSON.stringify(c)).join(', ') || '(none)'}`,
        { field: 'columns', unknown, known: keys },
      );
    }
    columns = args.columns;
  }
  if (columns.length === 0) {
    throw invalid('nothing to render: give at least one row with at least one key', { field: 'rows' });
  }

  const header = columns.map(cellText);
  const body = rows.map((row) => columns.map((c) => cellText(row[c])));
  // Right-align columns whose non-empty cells are all numbers.
  const numeric = columns.map((c) => {
    const vals = rows.map((r) => r[c]).filter((v) => v !== undefined && v !== null);
    return vals.length > 0 && vals.every((v) => typeof v === 'number');
  });
  const width = columns.map((_, i) => Math.max(3, header[i].length, ...body.map((r) => r[i].length)));
  const pad = (s, i) => (numeric[i] ? s.padStart(width[i]) : s.padEnd(width[i]));
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${width.map((w, i) => (numeric[i] ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ')} |`;
  const markdown = [line(header), rule, ...body.map(line)].join('\n');

  log('debug', `js.markdown_table: ${rows.length} rows x ${columns.length} columns`);
  return {
    value: { markdown, rows: rows.length, columns },
    content: [{ tag: 'text', val: markdown }],
  };
}

// --- js.csv_parse ---------------------------------------------------------------------------

const CSV_INPUT = {
  $schema: SCHEMA,
  type: 'object',
  properties: {
    csv: { type: 'string', description: 'The CSV text (RFC 4180: double-quoted fields may hold delimiters, quotes as "" and line breaks).' },
    header: {
      type: 'boolean',
      default: true,
      description: 'Whether the first record holds column names (default true): rows become objects keyed by them; otherwise rows are arrays of strings.',
    },
    delimiter: {
      type: 'string',
      minLength: 1,
      maxLength: 1,
      default: ',',
      description: 'Field delimiter, one character (default ","; use "\\t" for TSV, ";" for European CSV).',
    },
  },
  required: ['csv'],
  additionalProperties: false,
};

const CSV_OUTPUT = {
  $schema: SCHEMA,
  type: 'object',
  properties: {
    columns: { type: 'array', items: { type: 'string' }, description: 'Column names (only with header = true).' },
    rows: {
      type: 'array',
      items: { type: ['object', 'array'] },
      description: 'Objects keyed by column (header = true) or arrays of fields (header = false). All values are strings.',
    },
    count: { type: 'integer', description: 'Number of rows (without the header).' },
  },
  required: ['rows', 'count'],
};

/** Splits CSV text into records of string fields; each record carries its starting line. */
function parseRecords(text, delim) {
  const records = [];
  let fields = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let atFieldStart = true;
  let recordHasContent = false;
  const n = text.length;
  const endRecord = () => {
    fields.push(field);
    // A blank line is not a record.
    if (recordHasContent || fields.length > 1 || field !== '') records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    atFieldStart = true;
    recordHasContent = false;
  };
  while (i < n) {
    const c = text[i];
    if (atFieldStart && c === '"') {
      // Quoted field: runs to the next lone quote.
      const startLine = line;
      i++;
      for (;;) {
        if (i >= n) throw invalid(`line ${startLine}: unterminated quoted field`, { line: startLine });
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n' || (q === '\r' && text[i + 1] !== '\n')) line++;
        field += q;
        i++;
      }
      recordHasContent = true;
      atFieldStart = false;
      if (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') {
        throw invalid(`line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote (write a quote inside a quoted field as "")`, { line });
      }
      continue;
    }
    if (c === delim) {
      fields.push(field);
      field = '';
      atFieldStart = true;
      recordHasContent = true;
      i++;
    } else if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else {
      field += c;
      atFieldStart = false;
      i++;
    }
  }
  if (!atFieldStart || fields.length > 0 || field !== '') endRecord();
  return records;
}

function csvParse(args) {
  if (typeof args.csv !== 'string') throw invalid('`csv` must be a string', { field: 'csv' });
  const header = args.header ?? true;
  const delim = args.delimiter ?? ',';
  if (typeof header !== 'boolean') throw invalid('`header` must be a boolean', { field: 'header' });
  if (typeof delim !== 'string' || [...delim].length !== 1 || delim === '"' || delim === '\n' || delim === '\r') {
    throw invalid('`delimiter` must be one character other than a quote or a line break', { field: 'delimiter' });
  }
  const records = parseRecords(args.csv, delim);
  let value;
  if (!header) {
    value = { rows: records.map((r) => r.fields), count: records.length };
  } else {
    if (records.length === 0) throw invalid('`csv` is empty: expected a header line', { field: 'csv' });
    const columns = records[0].fields.map((name, i) => (name.trim() === '' ? `column_${i + 1}` : name));
    const dup = columns.find((c, i) => columns.indexOf(c) !== i);
    if (dup !== undefined) {
      throw invalid(`duplicate column name ${JSON.stringify(dup)} in the header (use "header": false to get arrays)`, { line: records[0].line, column: dup });
    }
    const rows = records.slice(1).map(({ line, fields }) => {
      if (fields.length !== columns.length) {
        throw invalid(`line ${line}: ${fields.length} field(s), but the header has ${columns.length}`, {
          line,
          expected: columns.length,
          got: fields.length,
        });
      }
      const obj = {};
      columns.forEach((c, i) => {
        obj[c] = fields[i];
      });
      return obj;
    });
    value = { columns, rows, count: rows.length };
  }
  log('debug', `js.csv_parse: ${value.count} rows`);
  return { value, content: [] };
}

// --- the `tool` export ----------------------------------------------------------------------

const TOOLS = {
  'js.markdown_table': {
    title: 'Markdown table',
    description:
      'Render rows of data (an array of objects) as a GitHub-flavoured Markdown table. ' +
      'Use it to show tabular results to a user; numeric columns are right-aligned.',
    input: TABLE_INPUT,
    output: TABLE_OUTPUT,
    run: markdownTable,
  },
  'js.csv_parse': {
    title: 'Parse CSV',
    description:
      'Parse CSV text into rows: objects keyed by the header line (default) or arrays of fields. ' +
      'Handles quoted fields with commas, escaped quotes ("") and line breaks. All values are strings.',
    input: CSV_INPUT,
    output: CSV_OUTPUT,
    run: csvParse,
  },
};

/** The WIT `tool-error` record for a failure. */
function toolError(kind, message, details) {
  return {
    kind,
    message,
    retryable: undefined,
    retryAfterMs: undefined,
    details: details === undefined ? undefined : JSON.stringify(details),
  };
}

// Both tools only transform their arguments: they change nothing, give the same answer for
// the same input and reach nothing outside the call.
const PURE = { readOnly: true, destructive: false, idempotent: true, openWorld: false };

export const tool = {
  describe() {
    return Object.entries(TOOLS).map(([name, t]) => ({
      name,
      title: t.title,
      description: t.description,
      inputSchema: JSON.stringify(t.input),
      outputSchema: JSON.stringify(t.output),
      idempotent: true,
      annotations: PURE,
      icons: [],
      longRunning: false,
    }));
  },

  call(name, args, ctx) {
    const t = TOOLS[name];
    if (t === undefined) throw toolError('not-found', `no tool named ${JSON.stringify(name)} in plugin \`textkit\``);
    let parsed;
    try {
      parsed = JSON.parse(args);
    } catch (e) {
      throw toolError('invalid-input', `arguments are not valid JSON: ${e.message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw toolError('invalid-input', 'arguments must be a JSON object');
    }
    try {
      const { value, content } = t.run(parsed);
      return { value: JSON.stringify(value), content };
    } catch (e) {
      if (e instanceof ToolFailure) throw toolError(e.kind, e.message, e.details);
      // A bug in this plugin: report it as `internal`, keep the stack in the host log.
      log('error', `${name} (call ${ctx.callId}) failed: ${e && e.stack ? e.stack : e}`);
      throw toolError('internal', `${name} failed: ${e}`);
    }
  },
};
