"""Side-by-side benchmark of Berth and Distribution; run it with `bench/run`."""
