"""Running things: one way to start a child process and one way to wait for a condition.

`child.ChildProcess` starts a command in its own process group, waits on one readiness
probe while checking the child is alive, and stops the whole group on any failure.
`wait.wait_until` is the one polling loop (tenacity underneath) that every readiness wait
in the product code goes through.
"""
