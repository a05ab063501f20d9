"""Command line: ``python -m bot build|search|claims|match|kpa|train-matcher|train-stance|calibrate|serve``."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time

from bot.settings import EVAL_DIR, INDEX_DIR, KNOWLEDGE_DIR


def _build(args: argparse.Namespace) -> int:
    from bot.essay.knowledge import load_knowledge, validate
    from bot.essay.parse import load_essay
    from bot.search.embeddings import shared_encoder
    from bot.search.index import PassageIndex, is_fresh

    if args.if_stale and is_fresh(INDEX_DIR):
        print(f"passage index in {INDEX_DIR} is up to date")
        return 0
    essay = load_essay()
    problems = validate(load_knowledge(), essay)
    if problems:
        print("knowledge/claims.yml does not fit the essay:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    started = time.perf_counter()
    index = PassageIndex.build(essay, shared_encoder(), INDEX_DIR)
    print(f"indexed {len(index)} passages in {time.perf_counter() - started:.1f}s -> {INDEX_DIR}")
    return 0


def _wrap(text: str, indent: str = "    ") -> str:
    return "\n".join(
        textwrap.fill(line, 96, initial_indent=indent, subsequent_indent=indent) if line else ""
        for line in text.split("\n")
    )


def _search(args: argparse.Namespace) -> int:
    from bot.search.retrieval import shared_retriever

    hits = shared_retriever().search(args.text, claim=args.claim, charge=args.charge, k=args.k)
    if args.json:
        print(json.dumps([
            {
                "id": h.id,
                "section": h.passage.section,
                "score": round(h.score, 4),
                "curated": h.curated,
                "text": h.passage.text,
                "sources": [f.citation() for f in h.sources],
            }
            for h in hits
        ], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, 1):
        mark = " (curated)" if hit.curated else ""
        print(f"{rank}. [{hit.id}] {hit.passage.section} score={hit.score:.3f}{mark}")
        print(_wrap(hit.passage.text))
        for source in hit.sources:
            print(_wrap(source.citation(), "      "))
        print()
    return 0


def _claims(args: argparse.Namespace) -> int:
    from bot.essay.knowledge import load_knowledge

    knowledge = load_knowledge()
    for title, table in (("Claims", knowledge.claims), ("Charges", knowledge.charges)):
        print(f"{title}:")
        for key, position in table.items():
            point = f"point {position.point}: " if position.point else ""
            print(f"  {key}  ({point}{position.title})")
            print(f"    passages: {', '.join(position.passages)}")
            print(f"    footnotes: {', '.join(map(str, position.footnotes)) or '-'}")
            for kp in position.key_points:
                print(_wrap(f"{kp.id}: {kp.text}", "      "))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from bot.server.serve import main as serve

    return serve(
        host=args.host, port=args.port, action_port=args.action_port, tracker_db=args.tracker_db, model=args.model
    )


def _check_model(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.server.serve import MODEL, ModelUnavailable, check_model

    try:
        check_model(Path(args.model) if args.model else MODEL)
    except ModelUnavailable as error:
        if not args.quiet:
            print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _train_model(args: argparse.Namespace) -> int:
    from bot.server.trained_model import ensure_model

    print(ensure_model(force=args.force).message)
    return 0


def _judge_passages(args: argparse.Namespace) -> int:
    from bot.settings import JUDGED_PASSAGES
    from bot.tutoring.tutor import shared_tutor

    tutor = shared_tutor()
    if args.check:
        missing = tutor.unjudged()
        if missing:
            shown = ", ".join(f"{p} for {c}{'/' + h if h else ''}" for p, c, h in missing[:5])
            print(f"{JUDGED_PASSAGES} lacks {len(missing)} passage judgements ({shown}, ...): "
                  "run `make judge-passages` and commit it", file=sys.stderr)
            return 1
        print(f"{JUDGED_PASSAGES} covers every passage for every claim and charge")
        return 0
    started = time.perf_counter()
    written, computed = tutor.judge_passages()
    print(f"{written} passage judgements ({computed} computed now) in {time.perf_counter() - started:.0f}s "
          f"-> {JUDGED_PASSAGES}")
    return 0


def _check_stores(args: argparse.Namespace) -> int:
    from bot.server.stores import StoreUnavailable, check

    try:
        print(check(timeout=args.timeout))
    except StoreUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _validate(args: argparse.Namespace) -> int:
    from bot.tools.validate import main as validate

    return validate()


def _matcher(model: str, precision: str = "float32"):
    """The matcher ``--model`` names: the shipped trained judge, ``zero-shot`` MiniLM cosine, or a folder
    (a judge computing in ``precision``)."""
    from pathlib import Path

    from bot.scoring.judge import JUDGE_DIR, MANIFEST, Judge
    from bot.scoring.matcher import Matcher
    from bot.search.embeddings import shared_encoder

    if model == "zero-shot":
        return Matcher(shared_encoder())
    folder = JUDGE_DIR if model == "trained" else Path(model)
    judge = Judge(folder, verify=folder == JUDGE_DIR or (folder / MANIFEST).exists(), precision=precision)
    judge.warm()
    return Matcher(shared_encoder(), judge=judge)


def _match(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.scoring.judge import JudgeUnavailable
    from bot.scoring.matcher import load_key_points, load_texts

    key_points = load_key_points(Path(args.key_points))
    texts = load_texts(Path(args.texts))
    try:
        matcher = _matcher(args.model, args.precision)
    except JudgeUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    scores = {
        text_id: {kp: round(score, 4) for kp, score in matcher.score(text, key_points).items()}
        for text_id, text in texts
    }
    print(json.dumps(scores, ensure_ascii=False, indent=2))
    return 0


def _kpa(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.scoring.argkp import load_split
    from bot.scoring.judge import JudgeUnavailable
    from bot.scoring.train import evaluate_on

    folder = Path(args.data)
    if not (folder / f"labels_{args.split}.csv").exists():
        print(f"error: no ArgKP {args.split} split in {folder} (--data or TUTOR_ARGKP_DIR)", file=sys.stderr)
        return 1
    data = load_split(folder, args.split)
    print(f"ArgKP-2021 {args.split}: {len(data.groups)} topic/stance groups, {len(data.labels)} labelled pairs")
    print(f"{'matcher':<28} {'mAP strict':>10} {'relaxed':>8}")
    runs = [(m, p) for m in args.models for p in (args.precision if m != "zero-shot" else ["float32"])]
    for model, precision in runs:
        try:
            matcher = _matcher(model, precision)
        except JudgeUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        figures = evaluate_on(data, matcher.score)
        name = model if matcher.judge is None else f"{model} ({matcher.judge.precision})"
        print(f"{name:<28} {figures.strict:>10.3f} {figures.relaxed:>8.3f}", flush=True)
    return 0


def _train_matcher(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.scoring.train import main as train

    return train(Path(args.data), Path(args.out), epochs=args.epochs, seed=args.seed,
                 base=Path(args.base) if args.base else None, stage_one_only=args.stage_one_only)


def _train_stance(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.nlu.stance import StanceSettings, train

    settings = StanceSettings(layers=args.layers, epochs=args.epochs, seed=args.seed)
    record = train(Path(args.out), settings)
    print(f"stance reader: {record['texts']} phrasings, {record['minutes']} minutes -> {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.scoring.calibrate import main as calibrate

    return calibrate(Path(args.data), Path(args.claims), write=args.write, zero_shot=args.zero_shot)


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.tools.evaluate import RESULTS
    from bot.tools.evaluate import main as evaluate

    evaluate(Path(args.model), Path(args.out) if args.out else RESULTS, with_passages=not args.nlu_only)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bot.tools.bench import main as bench

    return bench(
        rest=not args.no_rest, users=args.users, starter=not args.no_starter,
        postgres=not args.no_postgres, train=not args.no_train,
    )


def _reader_grid(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.tools.reader_grid import main as reader_grid

    chosen = reader_grid(Path(args.config))
    if chosen is None:
        print("no pair of thresholds keeps claim accuracy within the allowed loss")
        return 1
    print(f"chosen: key_point_threshold {chosen.key_point_threshold}, below_confidence {chosen.below_confidence}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.tools.evaluate import compare

    compare([Path(c) for c in args.configs])
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.essay.knowledge import load_knowledge
    from bot.report import ReportError, build_report, default_salt, load_attempts, shown_url

    if args.db is None:
        from bot.server.stores import database_url

        args.db = database_url()
    title, hash_ids = "Debate practice report", args.hash_ids
    try:
        if args.class_id is None:
            attempts = load_attempts(args.db)
        else:
            from bot.classroom.reports import class_attempts

            classroom, attempts = class_attempts(args.db, args.class_id)
            title, hash_ids = f"Debate practice report: {classroom.title}", hash_ids or classroom.pseudonymise
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    salt = args.salt or default_salt()
    page = build_report(attempts, load_knowledge(), Path(args.out), hash_ids, salt, source=shown_url(args.db), title=title)
    print(f"{len(attempts)} practice rounds of {len({a.student for a in attempts})} students -> {page}")
    return 0


def _precisions(allowed: tuple[str, ...]):
    """An argparse type: a comma-separated list of judge precisions, each one of ``allowed``."""

    def parse(value: str) -> list[str]:
        chosen = [v.strip() for v in value.split(",") if v.strip()]
        wrong = [v for v in chosen if v not in allowed]
        if wrong or not chosen:
            raise argparse.ArgumentTypeError(f"{value!r}: expected one or more of {', '.join(allowed)}, comma-separated")
        return chosen

    return parse


def parser() -> argparse.ArgumentParser:
    from bot.nlu.stance import StanceSettings
    from bot.scoring.judge import JUDGE_DIR, PRECISIONS
    from bot.settings import STANCE_DIR

    top = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the passage index from knowledge/")
    build.add_argument("--if-stale", action="store_true", help="do nothing when the index is up to date")
    build.set_defaults(run=_build)

    search = commands.add_parser("search", help="print the passages that best answer a text")
    search.add_argument("text")
    search.add_argument("--claim", help="a claim intent whose curated passages rank first")
    search.add_argument("--charge", help="a charge value whose curated passages rank first")
    search.add_argument("-k", type=int, default=3, help="how many passages (default 3)")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.set_defaults(run=_search)

    claims = commands.add_parser("claims", help="list the claims, their passages and key points")
    claims.set_defaults(run=_claims)

    match = commands.add_parser("match", help="score texts against key points: JSON {text id: {key point id: score}}")
    match.add_argument("--key-points", required=True, help="YAML mapping key point ids to their texts")
    match.add_argument("--texts", required=True, help='JSON lines, each {"id": ..., "text": ...}')
    match.add_argument("--model", default="trained",
                       help="'trained' (the shipped judge, default), 'zero-shot' (MiniLM cosine) or a cross-encoder folder")
    match.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="the judge's arithmetic: float32 (default: the figures of record), bfloat16, "
                            "or auto (as the tutor runs it: bfloat16 where the CPU has it natively)")
    match.set_defaults(run=_match)

    from bot.scoring.train import DATA_DIR, EPOCHS, SEED

    kpa = commands.add_parser("kpa", help="ArgKP-2021 mAP (official track-1 metric) of matchers on a split")
    kpa.add_argument("--split", default="dev", help="train or dev (the test split is not ours to score)")
    kpa.add_argument("--data", default=str(DATA_DIR), help="folder of the ArgKP-2021 csv files")
    kpa.add_argument("models", nargs="*", default=["trained", "zero-shot"], help="as for match --model")
    kpa.add_argument("--precision", type=_precisions(PRECISIONS), default=["float32"],
                     help="as for match --precision; several, comma-separated, give a row each")
    kpa.set_defaults(run=_kpa)

    trainer = commands.add_parser("train-matcher", help="train the key point judge on ArgKP-2021 and write its card")
    trainer.add_argument("--data", default=str(DATA_DIR), help="folder of the ArgKP-2021 csv files")
    trainer.add_argument("--out", default=str(JUDGE_DIR), help="where the weights, manifest and card go")
    trainer.add_argument("--epochs", type=int, default=EPOCHS)
    trainer.add_argument("--seed", type=int, default=SEED)
    trainer.add_argument("--base", help="a stage-1 (ArgKP) model folder: skip stage 1 and adapt this one")
    trainer.add_argument("--stage-one-only", action="store_true",
                         help="train stage 1 only and keep its checkpoints in build/matcher-train for --base")
    trainer.set_defaults(run=_train_matcher)

    stance = commands.add_parser(
        "train-stance", help="train the stance reader config.yml uses on data/nlu and eval/stance_pairs.yml",
    )
    stance.add_argument("--out", default=str(STANCE_DIR), help="where the weights, manifest and card go")
    stance.add_argument("--layers", type=int, default=StanceSettings.layers, help="top encoder layers to train")
    stance.add_argument("--epochs", type=int, default=StanceSettings.epochs)
    stance.add_argument("--seed", type=int, default=StanceSettings.seed)
    stance.set_defaults(run=_train_stance)

    calibrate = commands.add_parser("calibrate", help="choose the key point threshold on labelled rebuttals")
    calibrate.add_argument("--data", default=str(EVAL_DIR / "rebuttals.yml"), help="labelled rebuttals")
    calibrate.add_argument("--claims", default=str(KNOWLEDGE_DIR / "claims.yml"), help="claims file of the key points")
    calibrate.add_argument("--write", action="store_true", help="record the chosen threshold in knowledge/scoring.yml")
    calibrate.add_argument("--zero-shot", action="store_true", help="calibrate MiniLM cosine alone (the old matcher)")
    calibrate.set_defaults(run=_calibrate)

    serve = commands.add_parser("serve", help="run the action server and the Rasa server until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="interface for the Rasa server (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5005)
    serve.add_argument("--action-port", type=int, default=5055)
    serve.add_argument("--tracker-db", help="SQLite file for conversations (default build/tracker.db)")
    serve.add_argument("--model", help="trained model (default build/models/tutor.tar.gz)")
    serve.set_defaults(run=_serve)

    model = commands.add_parser("check-model", help="exit 1 if the trained model is missing or unreadable")
    model.add_argument("--model", help="the model file (default build/models/tutor.tar.gz)")
    model.add_argument("--quiet", action="store_true", help="say nothing, only the exit code")
    model.set_defaults(run=_check_model)

    train_model = commands.add_parser(
        "train-model", help="make build/models/tutor.tar.gz current: the build copy, the shipped one, or rasa train"
    )
    train_model.add_argument("--force", action="store_true", help="train even if a current copy exists")
    train_model.set_defaults(run=_train_model)

    judged = commands.add_parser(
        "judge-passages", help="judge every passage's sentences for every claim's key points (the table start-up reads)"
    )
    judged.add_argument("--check", action="store_true", help="exit 1 if the table lacks a current passage or key point")
    judged.set_defaults(run=_judge_passages)

    stores = commands.add_parser(
        "check-stores", help="check that the stores TUTOR_ENDPOINTS names can be reached (exit 1 if not)"
    )
    stores.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each store (default 5)")
    stores.set_defaults(run=_check_stores)

    evaluate = commands.add_parser("eval", help="NLU and passage figures on the held-out set")
    evaluate.add_argument("--model", default=str(INDEX_DIR.parent / "models" / "tutor.tar.gz"))
    evaluate.add_argument("--out", help="folder for eval.json and confusion.png (default build/results)")
    evaluate.add_argument("--nlu-only", action="store_true", help="skip the passage hit rate")
    evaluate.set_defaults(run=_eval)

    bench = commands.add_parser("bench", help="print speed figures (search, REST load beside Rasa's starter bot, memory)")
    bench.add_argument("--no-rest", action="store_true", help="only the index figures: start no server")
    bench.add_argument("--users", type=int, default=8, help="students at once in the load (default 8)")
    bench.add_argument("--no-starter", action="store_true", help="skip Rasa's starter bot (the side-by-side ratio)")
    bench.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL + Redis run")
    bench.add_argument("--no-train", action="store_true", help="skip timing `rasa train` from scratch")
    bench.set_defaults(run=_bench)

    comparison = commands.add_parser("compare", help="train and evaluate several NLU pipelines side by side")
    comparison.add_argument("configs", nargs="+", help="Rasa config files (e.g. config.yml eval/pipelines/*.yml)")
    comparison.set_defaults(run=_compare)

    grid = commands.add_parser(
        "reader-grid", help="choose the counter-argument reader's thresholds out of fold on data/nlu (about 7 min)"
    )
    grid.add_argument("--config", default="config.yml", help="the pipeline, whose reader is left out to be tuned")
    grid.set_defaults(run=_reader_grid)

    validate = commands.add_parser("validate-data", help="rasa data validate, reading action-sent responses as used")
    validate.set_defaults(run=_validate)

    report = commands.add_parser("report", help="teacher report (HTML, CSV, chart) from the conversations")
    report.add_argument("--out", default=str(INDEX_DIR.parent / "report"), help="output folder (default build/report)")
    report.add_argument(
        "--db",
        default=None,
        help="SQLAlchemy URL of the tracker store (default: the database of the chosen endpoints file, as `make run` uses)",
    )
    report.add_argument("--class", dest="class_id", type=int, help="only this class's students, since they joined")
    report.add_argument("--hash-ids", action="store_true", help="replace student ids by salted SHA-256 pseudonyms")
    report.add_argument("--salt", help="salt for --hash-ids (default $TUTOR_REPORT_SALT, else a fixed project string)")
    report.set_defaults(run=_report)

    teacher = commands.add_parser("teacher", help="teacher accounts (prints the token once)")
    teacher_commands = teacher.add_subparsers(dest="action", required=True)
    add = teacher_commands.add_parser("add", help="create a teacher and print `token: TOKEN`")
    add.add_argument("--name", required=True)
    add.add_argument("--reset", action="store_true", help="issue a new token for an existing teacher")
    add.add_argument("--db", default=None, help="SQLAlchemy URL (default: the conversations' database)")
    add.set_defaults(run=_teacher_add)

    classes = commands.add_parser("classes", help="classes and their join codes")
    class_commands = classes.add_subparsers(dest="action", required=True)
    create = class_commands.add_parser("create", help="create a class and print `join code: CODE`")
    create.add_argument("--teacher", required=True)
    create.add_argument("--title", required=True)
    create.add_argument("--hash-ids", action="store_true", help="show students as salted pseudonyms on its pages and CSV")
    create.add_argument("--db", default=None)
    create.set_defaults(run=_classes_create)
    listing = class_commands.add_parser("list", help="a teacher's classes: id, join code, students, title")
    listing.add_argument("--teacher", required=True)
    listing.add_argument("--db", default=None)
    listing.set_defaults(run=_classes_list)
    return top


def _classroom_engine(url: str | None):
    from bot.classroom import db

    return db.engine_for(url) if url else db.conversations_engine()


def _teacher_add(args: argparse.Namespace) -> int:
    from bot.classroom import accounts

    engine = _classroom_engine(args.db)
    try:
        token = accounts.reset_token(engine, args.name) if args.reset else accounts.add_teacher(engine, args.name)
    except accounts.ClassroomError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"teacher: {args.name.strip()}")
    print(f"token: {token}")
    print("Shown once: only a hash of it is kept. Sign in at /teacher/ on the tutor's server.", file=sys.stderr)
    return 0


def _classes_create(args: argparse.Namespace) -> int:
    from bot.classroom import accounts

    try:
        made = accounts.create_class(_classroom_engine(args.db), args.teacher, args.title, pseudonymise=args.hash_ids)
    except accounts.ClassroomError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"class: {made.id} {made.title}")
    print(f"join code: {made.shown_code}")
    return 0


def _classes_list(args: argparse.Namespace) -> int:
    from bot.classroom import accounts

    engine = _classroom_engine(args.db)
    try:
        owner = accounts.teacher_named(engine, args.teacher)
    except accounts.ClassroomError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for c in accounts.classes_of(engine, owner.id):
        print(f"{c.id}\t{c.shown_code}\t{c.students} students\t{c.title}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as error:
        from bot.search.index import IndexUnavailable

        if isinstance(error, IndexUnavailable):
            print(f"error: {error}", file=sys.stderr)
            return 2
        raise
