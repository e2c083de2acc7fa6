# Not from the posts: child processes, the part of asyncio they do not show.
# Two programs run at the same time; one is fed through its stdin.
import asyncio


async def run(cmd):
    proc = await asyncio.create_subprocess_shell(
        cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await proc.communicate()
    print(f'[{cmd!r} exited with {proc.returncode}]')
    if stdout:
        print(f'[stdout]\n{stdout.decode()}')
    if stderr:
        print(f'[stderr]\n{stderr.decode()}')


async def upper(text):
    proc = await asyncio.create_subprocess_exec(
        'tr', 'a-z', 'A-Z', stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await proc.communicate(text.encode())
    return stdout.decode()


async def main():
    await asyncio.gather(run('sleep 0.2; echo slow'), run('echo fast; echo oops >&2; exit 1'))
    print(await upper('hello from a pipe'))
    proc = await asyncio.create_subprocess_exec('sleep', '10')
    proc.kill()
    print('killed:', await proc.wait())


asyncio.run(main())
