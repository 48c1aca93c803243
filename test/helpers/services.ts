/** Where the integration tests find the real services (overridable by env). */
export const DATABASE_URL = process.env.POSTBOX_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const RABBITMQ_URL = process.env.POSTBOX_TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.POSTBOX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The Kafka project starts its own broker (scripts/kafka.sh) unless this points at one. */
export const KAFKA_BROKERS = (process.env.POSTBOX_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

export const HOW_TO_START = {
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  rabbitmq: 'rabbitmq-server -detached',
  kafka: 'bash scripts/kafka.sh start',
  redis: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
} as const;
