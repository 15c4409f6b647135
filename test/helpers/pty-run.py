# Runs a command in a pseudo-terminal for a while, then types "q" and collects everything it drew.
# usage: pty-run.py SECONDS COMMAND ARGS...   Prints a JSON object { output, exit }.
import json, os, pty, select, sys, time

seconds = float(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
end = time.time() + seconds
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try: out += os.read(fd, 65536)
        except OSError: break
os.write(fd, b'q')
end = time.time() + 3
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 65536)
            if not chunk: break
            out += chunk
        except OSError: break
_, status = os.waitpid(pid, 0)
print(json.dumps({'output': out.decode('utf-8', 'replace'), 'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}))
