// P1's floor (bench/run_benchmarks.py, issue 9): a process linking the same
// libraries as tq-client that does nothing. Its run time is what loading
// those libraries costs (exec, dynamic linking, relocation, the shared
// libraries' own initialisers); tq-client's small job is measured against it.
// tq's own archives contribute nothing here (no symbol of theirs is used), so
// tq-client's static initialisers and start-up are all on tq-client's side.
int main() { return 0; }
