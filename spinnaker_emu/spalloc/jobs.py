"""Jobs as the allocator keeps them, and the validation of what a client asks for
(create_job's arguments, job ids): used by the server and its commands."""
import math
import time

from .machine import Request

VERSION = "5.0.0"       # 1!7.x strings crash the 7.4.1 client (spalloc.md section 1.10)
DEFAULT_KEEPALIVE = 60.0
MAX_LINE = 1 << 20


class JobState:
    unknown = 0
    queued = 1
    power = 2
    ready = 3
    destroyed = 4


class RequestError(Exception):
    """Bad arguments: reported to the client as {"exception": message}."""


class Job:
    def __init__(self, job_id, owner, keepalive, args, kwargs, request, candidates, host):
        self.id = job_id
        self.owner = owner
        self.keepalive = keepalive
        self.args = args
        self.kwargs = kwargs
        self.request = request
        self.candidates = candidates        # machines whose queue holds this job
        self.state = JobState.queued
        self.power = None
        self.machine = None
        self.alloc = None
        self.start_time = time.time()
        self.last_keepalive = time.monotonic()
        self.keepalivehost = host
        self.reason = None
        self.pending = 0                    # power tasks still running


# ------------------------------------------------------------------ validation
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _job_id(args, kwargs, name="job_id"):
    if args:
        v = args[0]
    elif name in kwargs:
        v = kwargs[name]
    else:
        raise RequestError("a job id is required")
    if not _is_int(v):
        raise RequestError("job id must be an integer, got %r" % (v,))
    return v


CREATE_KWARGS = ("owner", "keepalive", "machine", "tags", "min_ratio", "max_dead_boards",
                 "max_dead_links", "require_torus")


def parse_create(args, kwargs):
    """Validate a create_job request completely before anything is registered."""
    unknown = set(kwargs) - set(CREATE_KWARGS)
    if unknown:
        raise RequestError("unexpected keyword arguments: %s" % ", ".join(sorted(unknown)))
    if not all(_is_int(a) for a in args):
        raise RequestError("job dimensions must be integers, got %r" % (list(args),))
    owner = kwargs.get("owner")
    if owner is None:
        raise RequestError("owner must be specified for all jobs")
    if not isinstance(owner, str):
        raise RequestError("owner must be a string")
    keepalive = kwargs.get("keepalive", DEFAULT_KEEPALIVE)
    if keepalive is not None and (not _is_num(keepalive) or keepalive < 0):
        raise RequestError("keepalive must be a non-negative number or null")
    machine = kwargs.get("machine")
    tags = kwargs.get("tags")
    if machine is not None and not isinstance(machine, str):
        raise RequestError("machine must be a string")
    if tags is not None and (not isinstance(tags, list) or
                             not all(isinstance(t, str) for t in tags)):
        raise RequestError("tags must be a list of strings")
    if machine is not None and tags is not None:
        raise RequestError("Only one of machine and tags may be specified for a job.")
    min_ratio = kwargs.get("min_ratio")
    if min_ratio is None:
        min_ratio = 0.333
    if not _is_num(min_ratio):
        raise RequestError("min_ratio must be a number")
    mdb = kwargs.get("max_dead_boards", 0)
    if mdb is not None and (not _is_int(mdb) or mdb < 0):
        raise RequestError("max_dead_boards must be a non-negative integer or null")
    mdl = kwargs.get("max_dead_links")
    if mdl is not None and (not _is_int(mdl) or mdl < 0):
        raise RequestError("max_dead_links must be a non-negative integer or null")
    torus = kwargs.get("require_torus")
    if torus is None:
        torus = False
    if not isinstance(torus, bool):
        raise RequestError("require_torus must be true or false")
    common = dict(min_ratio=float(min_ratio), max_dead_boards=mdb, max_dead_links=mdl,
                  require_torus=torus)
    if len(args) == 0:
        args = [1]
    if len(args) == 1:
        if args[0] < 1:
            raise RequestError("the number of boards must be at least 1")
        if torus:
            raise RequestError("require_torus must be False when allocating boards.")
        req = Request("boards", n=args[0], **common)
    elif len(args) == 2:
        if args[0] < 1 or args[1] < 1:
            raise RequestError("width and height must be at least 1")
        req = Request("rect", width=args[0], height=args[1], **common)
    elif len(args) == 3:
        if min(args) < 0:
            raise RequestError("board coordinates must not be negative")
        if torus:
            raise RequestError("require_torus must be False when allocating boards.")
        req = Request("board", xyz=tuple(args), **common)
    else:
        raise RequestError("create_job takes 0 to 3 positional arguments")
    return req, owner, (float(keepalive) if keepalive is not None else None), machine, tags


# ------------------------------------------------------------------ connection
