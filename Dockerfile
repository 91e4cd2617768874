FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && useradd --system --uid 10001 --home /app aurora \
    && install -d -o aurora -g aurora /var/lib/aurora-metrics

COPY --chown=aurora:aurora . .
# collectstatic needs settings that load; these values exist only for the build step.
RUN DEBUG=false SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-xx STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput

USER aurora
ENV STATIC_ROOT=/app/staticfiles
EXPOSE 8000
CMD ["gunicorn", "aurora.wsgi:application", "--config", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
