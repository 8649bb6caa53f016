"""Real dask.distributed processes: same results everywhere, a SIGKILLed worker, 127.0.0.1 only."""

import os
import signal
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

import convviz_widgets as cvw  # noqa: E402
from convviz_widgets.scan import cluster as scan_cluster  # noqa: E402
from convviz_widgets.scan.fingerprint import model_fingerprint  # noqa: E402

from .conftest import png_bytes, random_images  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client():
    c = scan_cluster.local_client(2)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def scan(model, images, **kwargs):
    return cvw.scan.top_activations(model, images, "c2", k=5, batch_size=4, progress=False, **kwargs)


def same(a, b):
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)


def listening(processes):
    """(ip, port) of every listening TCP socket of these processes."""
    out = set()
    for proc in processes:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        out |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return out


def family():
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


@pytest.mark.slow  # starts a second LocalCluster (client="local"): ~20 s on 2 cores
def test_same_results_in_process_on_an_explicit_cluster_and_on_local(model, images, client):
    here = scan(model, images)
    same(scan(model, images, client=client), here)
    before = {p.pid for p in family()}
    on_local = scan(model, images, client="local")
    same(on_local, here)
    assert on_local.complete and on_local.run.computed == 10
    assert {p.pid for p in family()} <= before  # the LocalCluster's processes are gone


def test_only_127_0_0_1_listens(client):
    sockets = listening(family())
    assert sockets, "the scheduler and workers should be listening"
    assert {ip for ip, _ in sockets} == {"127.0.0.1"}, sockets
    assert client.scheduler_info()["address"].startswith("tcp://127.0.0.1:")
    assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])


def slow_preprocess(x):
    """x / 255, slowly: every worker is in the middle of a task when one is killed."""
    time.sleep(0.1)
    return x / 255.0


def test_a_worker_killed_mid_scan_the_scan_completes_correctly(model, client):
    images = random_images(80, seed=9)
    want = scan(model, images)  # the same x / 255, without the sleep
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one(done, total):
        if done == 1:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(total)

    got = scan(model, images, client=client, callback=kill_one, preprocess=slow_preprocess)
    assert killed == [20]
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
    assert got.complete and got.run.done == got.run.computed == 20
    same(got, want)
    client.wait_for_workers(2, timeout=120)  # the nanny started a fresh worker
    assert pids[0] not in client.run(os.getpid).values()
    fingerprint = model_fingerprint(model)
    loads = client.run(lambda: dict(scan_cluster.LOADS))
    # once per worker, whatever the number of scans and tasks (two scans, 30 tasks so far)
    assert sorted(per.get(fingerprint, 0) for per in loads.values()) in ([0, 1], [1, 1])


def test_on_the_cluster_bad_files_are_reported_too(model, client, tmp_path):
    images = random_images(6, seed=5)
    for i, image in enumerate(images):
        (tmp_path / f"{i}.png").write_bytes(png_bytes(image))
    (tmp_path / "2.png").write_bytes(png_bytes(images[2])[:60])
    got = scan(model, tmp_path, client=client)
    assert set(got.errors) == {"2.png"} and "truncated" in got.errors["2.png"]
    keep = np.array([0, 1, 3, 4, 5])
    ref = scan(model, images[keep])
    np.testing.assert_array_equal(got.indices, keep[ref.indices])
    np.testing.assert_array_equal(got.positions, ref.positions)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-6)


def test_audit_and_atlas_on_the_cluster_equal_in_process(model, client):
    import pandas as pd

    images = random_images(4, seed=6)
    args = {"methods": ("gradcam", "hirescam"), "steps": 4, "batch_size": 2, "progress": False}
    pd.testing.assert_frame_equal(
        cvw.scan.cam_audit(model, images, client=client, **args),
        cvw.scan.cam_audit(model, images, **args),
        rtol=1e-6,
    )
    atlas_args = {"size": 16, "steps": 2, "batch_size": 2, "progress": False}
    there = cvw.scan.filter_atlas(model, "c2", client=client, **atlas_args)
    here = cvw.scan.filter_atlas(model, "c2", **atlas_args)
    assert there.complete and np.abs(there["c2"].astype(int) - here["c2"]).max() <= 1


def test_forget_models_removes_them_from_the_cluster(model, client):
    from convviz_widgets.scan.cluster import forget_models

    scan(model, random_images(4, seed=8), client=client)
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert any(name.startswith("convviz-model-") for name in plugins)
    forget_models(client)
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert not any(name.startswith("convviz-model-") for name in plugins)
    assert client.run(lambda: len(scan_cluster._LOADED)) == {w: 0 for w in client.scheduler_info()["workers"]}
