"""Team mode: steps with `runs_on:` dispatched through procrastinate to `flowtui worker`s."""
