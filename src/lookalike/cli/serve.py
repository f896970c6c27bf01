"""``lookalike serve``: the page and the API on uvicorn, one process, the model loaded once."""

from __future__ import annotations

import sys

from lookalike.cli.options import add_backend_option
from lookalike.errors import LookalikeError, require


def add_serve_parser(sub) -> None:
    sv = sub.add_parser("serve", help="the web page and REST API (needs lookalike[web])")
    sv.add_argument("model", metavar="MODEL_OR_GALLERY")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--keep-uploads", nargs="?", const="lookalike-uploads", metavar="DIR",
                    help="keep uploaded photos in DIR (default: nothing is written)")
    sv.add_argument("--max-mb", type=float, default=10.0, help="upload size limit per photo")
    sv.add_argument("--max-megapixels", type=float, default=50.0,
                    help="pixel limit per photo (default 50; at most 120, the decoder's)")
    add_backend_option(sv)
    sv.set_defaults(func=cmd_serve)  # FastAPI is imported only when serving


def cmd_serve(args) -> int:
    for module in ("fastapi", "uvicorn"):
        require(module, extra="web", purpose="the web server needs FastAPI and uvicorn")
    import uvicorn

    from lookalike.photos.images import MAX_PIXELS
    from lookalike.web.app import TOKEN_ENV, create_app

    if not 0 < args.max_mb <= 1024:
        raise LookalikeError(f"--max-mb {args.max_mb:g} is not a size limit",
                             fix="give a number of megabytes above 0, at most 1024 (default 10)")
    if not 0 < args.max_megapixels <= MAX_PIXELS / 1e6:
        raise LookalikeError(f"--max-megapixels {args.max_megapixels:g} is not a pixel limit",
                             fix=f"give a number above 0, at most {MAX_PIXELS / 1e6:g} "
                             "(default 50)")
    app = create_app(args.model, keep_uploads=args.keep_uploads,
                     max_bytes=int(args.max_mb * 1024 * 1024),
                     max_pixels=int(args.max_megapixels * 1e6))
    people = len(app.state.calls.now(lambda: app.state.recognizer.labels))
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
