# regauth container image: `regauth serve`, non-root, configuration from a mounted
# file (REGAUTH_CONFIG, default /etc/regauth/regauth.toml) and REGAUTH_* variables.
#
#   docker build -t regauth .                       # on the public Python image
#   docker build --build-arg BASE=my-debian-python -t regauth .
#
# BASE must provide python3 (3.11 or newer) with the venv module; both stages use it,
# so the virtual environment's interpreter path is valid in the final image. With a
# wheels/ folder in the build context, nothing is downloaded (pip --no-index).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# One COPY and one RUN: every layer is a full copy on some storage drivers (vfs).
# The context is the repository (see .dockerignore), optionally with a wheels/ folder.
COPY . /src/
RUN python3 -m venv /opt/regauth \
 && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
      /opt/regauth/bin/pip install --no-cache-dir --no-index --find-links /src/wheels "/src[postgres]"; \
    else \
      /opt/regauth/bin/pip install --no-cache-dir "/src[postgres]"; \
    fi \
 && /opt/regauth/bin/pip uninstall -y -q pip \
 && find /opt/regauth -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE}
COPY --from=build /opt/regauth /opt/regauth
ENV PATH=/opt/regauth/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    REGAUTH_CONFIG=/etc/regauth/regauth.toml \
    REGAUTH_SERVER__HOST=0.0.0.0
# A numeric non-root user: no account needed in the base image.
USER 10001:10001
WORKDIR /tmp
EXPOSE 5001
# Liveness only (/healthz); orchestrators should gate traffic on /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REGAUTH_SERVER__PORT', '5001'), timeout=2)"]
ENTRYPOINT ["regauth", "serve"]
