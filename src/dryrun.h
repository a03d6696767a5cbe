/* dryrun: `ezsync dry-run`, the rule editor's safety net. Replays a recording (from `ezsync
 * record`) through the rules with no side effect at all: no request to any API, no write to the
 * service database (rule state lives in an in-memory store for the run). Reads are answered
 * from the recording's journal, else from fixtures, else reported as unanswered. Prints the
 * calls each event would make; --expect compares with a golden file, --diff with what was
 * actually done when the traffic was recorded. */
#ifndef EZ_DRYRUN_H
#define EZ_DRYRUN_H

int dryrun_cmd(int argc, char **argv);
extern const char dryrun_usage[];

#endif
