// GraphQL front end: schema from the cached introspection (scripts/sim/setup), parse +
// validate with a per-document cache, Shopify-shaped errors, variable coercion, query cost.
import fs from 'node:fs';
import zlib from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildClientSchema, parse, validate, getOperationAST, getVariableValues, Kind, getNamedType, isLeafType,
  isListType, isNonNullType, GraphQLError,
} from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCHEMA_FILE = path.join(here, '..', '..', '.cache', 'admin_2026-10.json.gz');

export function loadSchema(file = SCHEMA_FILE) {
  if (!fs.existsSync(file)) throw new Error(`schema not found at ${file}: run scripts/sim/setup first`);
  const intro = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)));
  return buildClientSchema(intro.data);
}

// graphql-js messages → graphql-ruby (Shopify) wording and extension codes.
const RULES = [
  [/^Cannot query field "(\w+)" on type "(\w+)"\./, (m) => ({ message: `Field '${m[1]}' doesn't exist on type '${m[2]}'`, extensions: { code: 'undefinedField', typeName: m[2], fieldName: m[1] } })],
  [/^Unknown argument "(\w+)" on field "(\w+)\.(\w+)"\./, (m) => ({ message: `Field '${m[3]}' doesn't accept argument '${m[1]}'`, extensions: { code: 'argumentNotAccepted', name: m[3], typeName: 'Field', argumentName: m[1] } })],
  [/^Field "(\w+)" argument "(\w+)" of type "([^"]+)" is required, but it was not provided\./, (m) => ({ message: `Field '${m[1]}' is missing required arguments: ${m[2]}`, extensions: { code: 'missingRequiredArguments', className: 'Field', name: m[1], arguments: m[2] } })],
  [/^Field "(\w+)" of type "([^"]+)" must have a selection of subfields/, (m) => ({ message: `Field must have selections (field '${m[1]}' returns ${m[2].replace(/[[\]!]/g, '')} but has no selections. Did you mean '${m[1]} { ... }'?)`, extensions: { code: 'selectionMismatch', nodeName: `field '${m[1]}'`, typeName: m[2].replace(/[[\]!]/g, '') } })],
  [/^Field "(\w+)" must not have a selection since type "([^"]+)" has no subfields\./, (m) => ({ message: `Selections can't be made on scalars (field '${m[1]}' returns ${m[2]} but has selections [...])`, extensions: { code: 'selectionMismatch', nodeName: `field '${m[1]}'`, typeName: m[2] } })],
  [/^Unknown type "(\w+)"\./, (m) => ({ message: `No such type ${m[1]}, so it can't be a fragment condition`, extensions: { code: 'undefinedType', typeName: m[1] } })],
  [/^Variable "\$(\w+)" of type "([^"]+)" used in position expecting type "([^"]+)"\./, (m) => ({ message: `Nullability mismatch on variable $${m[1]} and argument (${m[2]} / ${m[3]})`, extensions: { code: 'variableMismatch', variableName: m[1], typeName: m[2], expectedType: m[3] } })],
  [/^Variable "\$(\w+)" is never used/, (m) => ({ message: `Variable $${m[1]} is declared by anonymous query but not used`, extensions: { code: 'variableNotUsed', variableName: m[1] } })],
  [/^Variable "\$(\w+)" is not defined/, (m) => ({ message: `Variable $${m[1]} is used by anonymous query but not declared`, extensions: { code: 'variableNotDefined', variableName: m[1] } })],
  [/^Unknown directive "@(\w+)"/, (m) => ({ message: `Directive @${m[1]} is not defined`, extensions: { code: 'undefinedDirective', directiveName: m[1] } })],
  [/^(\w+) cannot represent [^:]*: (.*)$/, (m) => ({ message: `Argument has an invalid value (${m[2]}). Expected type '${m[1]}'.`, extensions: { code: 'argumentLiteralsIncompatible', typeName: 'CoercionError' } })],
];

export function shopifyError(e, fallbackCode = 'GRAPHQL_VALIDATION_FAILED') {
  const out = { message: e.message };
  for (const [re, f] of RULES) {
    const m = re.exec(e.message);
    if (m) { Object.assign(out, f(m)); break; }
  }
  if (e.locations) out.locations = e.locations;
  if (e.path) out.path = e.path;
  if (!out.extensions) out.extensions = { code: e.extensions?.code ?? fallbackCode, ...(e.extensions ?? {}) };
  return out;
}

export class DocCache {
  constructor(schema, max = 2000) { this.schema = schema; this.max = max; this.map = new Map(); }
  get(query) {
    let d = this.map.get(query);
    if (d) return d;
    try {
      const document = parse(query);
      const errors = validate(this.schema, document);
      d = errors.length ? { errors: errors.map((e) => shopifyError(e)) } : { document };
    } catch (e) {
      d = { errors: [{ message: e.message.replace(/^Syntax Error: /, 'syntax error, '), locations: e.locations, extensions: { code: 'parseError' } }] };
    }
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value);
    this.map.set(query, d);
    return d;
  }
}

export function selectOperation(document, operationName) {
  const op = getOperationAST(document, operationName || undefined);
  if (op) return { op };
  const ops = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return { error: { message: `No operation named "${operationName}"`, extensions: { code: 'OPERATION_NOT_FOUND' } } };
  if (ops.length > 1) return { error: { message: 'An operation name is required', extensions: { code: 'OPERATION_NAME_REQUIRED' } } };
  return { error: { message: 'Document does not contain any operations', extensions: { code: 'OPERATION_NOT_FOUND' } } };
}

export function coerceVariables(schema, op, inputs) {
  const r = getVariableValues(schema, op.variableDefinitions ?? [], inputs ?? {}, { maxErrors: 25 });
  if (!r.errors) return { coerced: r.coerced };
  return {
    errors: r.errors.map((e) => {
      const name = /Variable "\$(\w+)"/.exec(e.message)?.[1] ?? '?';
      const def = op.variableDefinitions.find((v) => v.variable.name.value === name);
      const typeStr = def ? printType(def.type) : '?';
      return {
        message: `Variable $${name} of type ${typeStr} was provided invalid value`,
        locations: e.locations,
        extensions: { code: 'INVALID_VARIABLE', value: inputs?.[name] ?? null, problems: [{ path: e.path ?? [], explanation: e.message }] },
      };
    }),
  };
}
function printType(t) {
  if (t.kind === Kind.NON_NULL_TYPE) return printType(t.type) + '!';
  if (t.kind === Kind.LIST_TYPE) return '[' + printType(t.type) + ']';
  return t.name.value;
}

// ---------- cost (research §3.1): scalars/enums 0, objects 1, connections 2 + first × item,
// each mutation root field 10. With `data`, the same walk over what was actually returned.
function argInt(node, name, vars) {
  const a = node.arguments?.find((x) => x.name.value === name);
  if (!a) return undefined;
  if (a.value.kind === Kind.VARIABLE) return vars[a.value.name.value] ?? undefined;
  if (a.value.kind === Kind.INT) return parseInt(a.value.value, 10);
  return undefined;
}

export function queryCost(schema, document, op, vars, data) {
  const frags = Object.create(null);
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) frags[d.name.value] = d;
  const actual = data !== undefined;
  const isMutation = op.operation === 'mutation';
  const root = isMutation ? schema.getMutationType() : schema.getQueryType();

  function selCost(sel, type, obj, connItem) {
    let total = 0;
    for (const s of sel.selections) {
      if (s.kind === Kind.INLINE_FRAGMENT) {
        const t = s.typeCondition ? schema.getType(s.typeCondition.name.value) : type;
        total += selCost(s.selectionSet, t, obj, connItem);
      } else if (s.kind === Kind.FRAGMENT_SPREAD) {
        const f = frags[s.name.value];
        if (f) total += selCost(f.selectionSet, schema.getType(f.typeCondition.name.value), obj, connItem);
      } else {
        total += fieldCost(s, type, obj);
      }
    }
    return total;
  }
  function fieldCost(node, parent, obj) {
    const name = node.name.value;
    if (name.startsWith('__') || !parent.getFields) return 0;
    const def = parent.getFields()[name];
    if (!def) return 0;
    const named = getNamedType(def.type);
    if (isLeafType(named)) return 0;
    const key = node.alias?.value ?? name;
    const val = actual ? obj?.[key] : undefined;
    if (actual && obj && !(key in obj)) return 0;
    if (named.name.endsWith('Connection') && named.getFields().edges) {
      const n = argInt(node, 'first', vars) ?? argInt(node, 'last', vars) ?? 0;
      return 2 + connItems(node.selectionSet, named, val, n);
    }
    let inner = def.type;
    if (isNonNullType(inner)) inner = inner.ofType;
    if (isListType(inner)) {
      if (actual) return Array.isArray(val) ? val.reduce((s, v) => s + (v == null ? 0 : 1 + selCost(node.selectionSet, named, v)), 0) : 0;
      const n = argInt(node, 'first', vars) ?? 1;
      return n * (1 + selCost(node.selectionSet, named, undefined));
    }
    if (actual && val == null) return 1;
    return 1 + selCost(node.selectionSet, named, val);
  }
  // Inside a connection: edges { node {...} } and nodes {...} cost per item; pageInfo is free.
  function connItems(sel, connType, val, n) {
    let total = 0;
    const visit = (ss) => {
      for (const s of ss.selections) {
        if (s.kind === Kind.INLINE_FRAGMENT) { visit(s.selectionSet); continue; }
        if (s.kind === Kind.FRAGMENT_SPREAD) { const f = frags[s.name.value]; if (f) visit(f.selectionSet); continue; }
        const name = s.name.value, key = s.alias?.value ?? name;
        if (name === 'edges') {
          const edgeType = getNamedType(connType.getFields().edges.type);
          const nodeType = getNamedType(edgeType.getFields().node.type);
          const perEdge = (edge) => {
            let c = 0;
            for (const es of s.selectionSet.selections) {
              if (es.kind === Kind.FIELD && es.name.value === 'node') {
                const k = es.alias?.value ?? 'node';
                c += 1 + selCost(es.selectionSet, nodeType, edge ? edge[k] : undefined);
              }
            }
            return c;
          };
          if (actual) { const arr = val?.[key]; total += Array.isArray(arr) ? arr.reduce((a, e) => a + perEdge(e), 0) : 0; } else total += n * perEdge(undefined);
        } else if (name === 'nodes') {
          const nodeType = getNamedType(connType.getFields().nodes.type);
          if (actual) { const arr = val?.[key]; total += Array.isArray(arr) ? arr.reduce((a, v) => a + 1 + selCost(s.selectionSet, nodeType, v), 0) : 0; } else total += n * (1 + selCost(s.selectionSet, nodeType, undefined));
        }
      }
    };
    visit(sel);
    return total;
  }

  if (isMutation) {
    let n = 0;
    const count = (ss) => { for (const s of ss.selections) { if (s.kind === Kind.FIELD) { if (!s.name.value.startsWith('__')) n++; } else if (s.kind === Kind.INLINE_FRAGMENT) count(s.selectionSet); else { const f = frags[s.name.value]; if (f) count(f.selectionSet); } } };
    count(op.selectionSet);
    return n * 10;
  }
  return selCost(op.selectionSet, root, actual ? (data ?? {}) : undefined);
}

export function idempotentKey(schema, fieldNode, vars) {
  const d = fieldNode.directives?.find((x) => x.name.value === 'idempotent');
  if (!d) return null;
  const a = d.arguments.find((x) => x.name.value === 'key');
  if (!a) return null;
  if (a.value.kind === Kind.VARIABLE) return vars[a.value.name.value] ?? null;
  return a.value.value ?? null;
}

export { GraphQLError };
