/* record: `ezsync record`, a tap on the running service. Reads the service database (read-only,
 * alongside the running daemon: WAL lets readers and the writer coexist) and writes each event
 * as received plus the journaled API answers of its job as one JSON line: the recording that
 * `ezsync dry-run` replays. */
#ifndef EZ_RECORD_H
#define EZ_RECORD_H

int record_cmd(int argc, char **argv);
extern const char record_usage[];

#endif
