"""Requests released at once from several threads, for the race tests on PostgreSQL."""
import threading


def in_parallel(app, n: int, make_request) -> list:
    """Runs `make_request(client, i)` in n threads released together by a barrier; each request
    has its own app context and database session. Returns the results by i."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        client = app.test_client()
        barrier.wait()
        results[i] = make_request(client, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
