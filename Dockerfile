# collector-eval: OTLP/gRPC in on 4317; spans and verdicts out over OTLP (or verdicts to stdout).
#   docker build -t collector-eval:0.1.0 .
#   docker run --rm -p 4317:4317 -e OPENAI_API_KEY collector-eval:0.1.0
#   docker run --rm -p 4317:4317 -v "$PWD/my.yaml:/etc/collector-eval/config.yaml:ro" collector-eval:0.1.0
# The wheel is built where a C compiler is (the C modules of collector_eval/otlp and collector_eval/store),
# and installed without one.
FROM python:3.11 AS build
COPY pyproject.toml setup.py /src/
COPY collector_eval /src/collector_eval
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM python:3.11-slim

# redis-server for the embedded default: with no redis.url, the service starts a private one.
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

# The defaults, except that the receiver listens on 0.0.0.0:4317; mount your own file over it.
COPY deploy/docker/config.yaml /etc/collector-eval/config.yaml

RUN useradd --system --uid 10001 --no-create-home collector-eval
USER 10001
ENV PYTHONUNBUFFERED=1

EXPOSE 4317
ENTRYPOINT ["collector-eval", "serve"]
CMD ["--config", "/etc/collector-eval/config.yaml"]
