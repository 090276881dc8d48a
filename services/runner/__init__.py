"""Running things: one way to start a child process and one way to wait for a condition.

`child.ChildProcess` starts a command in its own process group, waits on one readiness
probe while checking the child is alive, and stops the whole group on any failure;
`child.start_daemon` / `stop_daemon` do the same for a server that outlives its command,
and `child.first_to_exit` blocks until one of several children exits.
`wait.wait_until` is the one polling loop (tenacity underneath) that every readiness wait
in the product code goes through; `wait.sleep_until` and `wait.every` pace by the clock
(a sender's rate, a fault's hold-down), never in place of a probe.
"""
