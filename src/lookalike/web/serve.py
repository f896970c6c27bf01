"""``lookalike serve``: the page and the API on uvicorn, one process, the model loaded once."""

from __future__ import annotations

import sys

from ..errors import require


def cmd_serve(args) -> int:
    for module in ("fastapi", "uvicorn"):
        require(module, extra="web", purpose="the web server needs FastAPI and uvicorn")
    import uvicorn

    from .app import TOKEN_ENV, create_app

    app = create_app(args.model, keep_uploads=args.keep_uploads,
                     max_bytes=int(args.max_mb * 1024 * 1024))
    people = len(app.state.calls.now(getattr, app.state.recognizer, "labels"))
    print(f"lookalike: {people} people from {args.model} — open "
          f"http://{args.host}:{args.port}/ (API docs at /docs; Ctrl-C stops)", file=sys.stderr)
    if args.keep_uploads:
        print(f"lookalike: keeping uploaded photos in {args.keep_uploads}", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        import os

        if not os.environ.get(TOKEN_ENV):
            print(f"lookalike: listening beyond this machine; gallery changes stay off until "
                  f"{TOKEN_ENV} is set", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
