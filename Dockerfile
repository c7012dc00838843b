# The inferql image: one image for API replicas (`inferql serve`) and workers
# (`inferql worker`); docker-compose.yml runs both against one Redis.

# The /dashboard page, bundled from dashboard/ into inferql/static/dashboard.
FROM node:20-slim AS dashboard
WORKDIR /build/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboard/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch first, from PyTorch's CPU index: the versions in constraints.txt, without
# the several GB of CUDA libraries that PyPI's torch wheel pulls in.
COPY constraints.txt ./
RUN pip install -c constraints.txt torch --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY inferql ./inferql
COPY --from=dashboard /build/inferql/static/dashboard ./inferql/static/dashboard
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 inferql

USER inferql
ENV INFERQL_HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1
# The ONNX Runtime export of the model (the default runtime), made once here and
# cached in the image (~/.cache/inferql): containers start in about a second,
# without importing torch.
RUN python -c "from inferql.inference.onnx_encoder import OnnxMiniLMEncoder as E; E.load(threads=1)"
EXPOSE 8000
CMD ["inferql", "serve"]
