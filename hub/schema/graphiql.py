"""GraphiQL served whole by the hub: the page and every script and style it loads.

A district office's network often has no internet. The stock page loads React and
GraphiQL from a public CDN and stays at "Loading..." there, so the hub serves the files
itself from the npm packages `make` installs into `web/node_modules` (pinned by
`web/package-lock.json`). Nothing on the page leaves the hub's origin.

The API is authenticated, so the schema cannot load until the page has a key: the page
asks for one above the editor and fetches the schema again once it is given. A key can
also arrive in the URL's fragment (`/graphql#key=...`, as `slrt-hub demo` prints it):
a fragment never reaches the server or its logs, and the page moves it into the tab's
session storage and removes it from the address bar.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

# The files the page loads, by the name it asks for, and where each lives in the packages.
ASSETS: dict[str, str] = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSET_PATH = "/assets/"

PAGE = """<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SLRT Hub · GraphiQL</title>
<link rel="stylesheet" href="{assets}graphiql.css">
<style>
  body {{ margin: 0; height: 100vh; display: flex; flex-direction: column;
         font-family: system-ui, sans-serif; }}
  #key-bar {{ display: flex; gap: .5rem; align-items: center; padding: .4rem .8rem;
             background: #f3f4f6; border-bottom: 1px solid #d1d5db; font-size: 14px; }}
  #key-bar input {{ flex: 1; max-width: 32rem; font-family: monospace; padding: .2rem .4rem; }}
  #key-state {{ color: #4b5563; }}
  #graphiql {{ flex: 1; min-height: 0; }}
</style>
</head>
<body>
<form id="key-bar" autocomplete="off">
  <label for="key">Kunci API (API key)</label>
  <input id="key" type="password" placeholder="slrt_..." spellcheck="false">
  <button type="submit">Pakai / Use</button>
  <button type="button" id="forget">Lupakan / Forget</button>
  <span id="key-state" role="status"></span>
</form>
<div id="graphiql">Memuat… (Loading…)</div>
<script src="{assets}react.js"></script>
<script src="{assets}react-dom.js"></script>
<script src="{assets}graphiql.js"></script>
<script>
(function () {{
  "use strict";
  var STORE = "slrt-hub-api-key";
  var state = document.getElementById("key-state");
  var input = document.getElementById("key");
  var fromFragment = new URLSearchParams(window.location.hash.slice(1)).get("key");
  if (fromFragment) {{
    sessionStorage.setItem(STORE, fromFragment);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }}
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var generation = 0;

  function render() {{
    var key = sessionStorage.getItem(STORE) || "";
    generation += 1;
    state.textContent = key
      ? "Kunci terpasang; skema dimuat ulang. (Key set; schema reloaded.)"
      : "Masukkan kunci API agar skema dan dokumentasi termuat. " +
        "(Enter an API key to load the schema and docs: slrt-hub clients create.)";
    var fetcher = GraphiQL.createFetcher({{
      url: window.location.pathname,
      headers: key ? {{ Authorization: "Bearer " + key }} : {{}},
    }});
    // A new React key remounts GraphiQL, so it fetches the schema again with the key.
    root.render(React.createElement(GraphiQL, {{
      key: generation, fetcher: fetcher, defaultEditorToolsVisibility: true,
    }}));
  }}

  document.getElementById("key-bar").addEventListener("submit", function (event) {{
    event.preventDefault();
    if (input.value.trim()) {{ sessionStorage.setItem(STORE, input.value.trim()); }}
    input.value = "";
    render();
  }});
  document.getElementById("forget").addEventListener("click", function () {{
    sessionStorage.removeItem(STORE);
    render();
  }});
  render();
}})();
</script>
</body>
</html>
"""

MISSING = """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>SLRT Hub · GraphiQL</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>Berkas GraphiQL belum terpasang</h1>
<p>Server ini melayani GraphiQL dari berkasnya sendiri (tanpa internet), tetapi berkas itu
belum dipasang. Jalankan <code>make assets</code> (atau <code>npm ci --prefix web</code>)
di folder proyek, lalu muat ulang halaman ini.</p>
<p lang="en">GraphiQL's files are not installed on this server (it never loads them from a
CDN): run <code>make assets</code> (or <code>npm ci --prefix web</code>) in the project
folder, then reload. The API itself answers at this address without them.</p>
<p>Looked in: <code>{folder}</code></p>
</body></html>
"""


def installed(folder: Path) -> bool:
    return all((folder / relative).is_file() for relative in ASSETS.values())


def page(folder: Path) -> Response:
    """GraphiQL, or a page saying how to install its files."""
    if not installed(folder):
        return HTMLResponse(MISSING.format(folder=folder), status_code=503)
    return HTMLResponse(PAGE.format(assets=ASSET_PATH), headers={
        "Cache-Control": "no-store",
        # Same origin only: nothing on the page may reach another host.
        "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline';"
        " style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'",
    })


def asset_endpoint(folder: Path) -> Callable[[Request], Awaitable[Response]]:
    """The route that serves the page's files, and only those (no path is read from
    the request)."""
    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        relative = ASSETS.get(name)
        if relative is None or not (folder / relative).is_file():
            return PlainTextResponse(f"no asset {name!r} on this server", status_code=404)
        return FileResponse(folder / relative, media_type=MEDIA[Path(name).suffix],
                            headers={"Cache-Control": "public, max-age=86400"})
    return asset
