# The inferql image: one image for API replicas (`inferql serve`) and workers
# (`inferql worker`); docker-compose.yml runs both against one Redis.
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
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 inferql

USER inferql
ENV INFERQL_HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1
EXPOSE 8000
CMD ["inferql", "serve"]
