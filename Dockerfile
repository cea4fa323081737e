FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY crypto crypto
COPY ledger ledger
COPY projections projections
COPY api api
COPY tools tools
COPY client client
RUN pip install --no-cache-dir -c constraints.txt ".[server]"
EXPOSE 8000
CMD ["carbon-ledger", "serve", "--data", "/data", "--host", "0.0.0.0", "--port", "8000"]
