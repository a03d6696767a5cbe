// Command-line parsing, the "ready" line and clean shutdown shared by every simulator.
// Options are declared once as a table: {name: {type, default, help, choices}}.

export function parseArgs(argv, spec, prog) {
  const opts = {};
  for (const [k, d] of Object.entries(spec)) opts[k] = d.default;
  const usage = () => {
    const lines = [`usage: ${prog} [options]`];
    for (const [k, d] of Object.entries(spec)) {
      lines.push(`  --${k}${d.type === 'bool' ? '' : ' ' + (d.choices ? d.choices.join('|') : d.type.toUpperCase())}  ${d.help || ''}${d.default !== undefined && d.type !== 'bool' ? ` (default ${d.default})` : ''}`);
    }
    return lines.join('\n');
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(usage() + '\n'); process.exit(0); }
    if (!a.startsWith('--')) fail(`unexpected argument '${a}'`);
    let val;
    const eq = a.indexOf('=');
    if (eq > 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
    const name = a.slice(2);
    const d = spec[name];
    if (!d) fail(`unknown option '--${name}'`);
    if (d.type === 'bool') { opts[name] = val === undefined ? true : !/^(0|false|no)$/i.test(val); continue; }
    if (val === undefined) {
      if (i + 1 >= argv.length) fail(`option '--${name}' needs a value`);
      val = argv[++i];
    }
    if (d.type === 'int' || d.type === 'number') {
      const n = Number(val);
      if (!Number.isFinite(n) || (d.type === 'int' && !Number.isInteger(n)) || n < (d.min ?? -Infinity)) {
        fail(`option '--${name}' needs ${d.type === 'int' ? 'an integer' : 'a number'}${d.min !== undefined ? ` >= ${d.min}` : ''}, got '${val}'`);
      }
      val = n;
    }
    if (d.choices && !d.choices.includes(val)) fail(`option '--${name}' must be one of ${d.choices.join(', ')}, got '${val}'`);
    if (d.check) { const err = d.check(val); if (err) fail(`option '--${name}': ${err}`); }
    opts[name] = val;
  }
  return opts;

  function fail(msg) {
    process.stderr.write(`${prog}: ${msg}\n${usage()}\n`);
    process.exit(2);
  }
}

export function logger(prog, verbose = false) {
  const write = (level, msg) => process.stderr.write(`${new Date().toISOString()} ${prog} ${level} ${msg}\n`);
  return {
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
    debug: verbose ? (m) => write('debug', m) : () => {},
  };
}

// Print exactly one "ready" line on stdout; register SIGTERM/SIGINT handlers that run
// `stop` (async) and exit 0.
export function announceReady(line, stop, log) {
  let stopping = false;
  const onSignal = async (sig) => {
    if (stopping) return;
    stopping = true;
    log?.info(`${sig}: stopping`);
    const t = setTimeout(() => process.exit(0), 3000);
    t.unref();
    try { await stop(); } catch (e) { log?.error(`stop: ${e.message}`); }
    process.exit(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Handlers first: a supervisor may signal us the moment it reads this line.
  process.stdout.write(`ready ${line}\n`);
}
