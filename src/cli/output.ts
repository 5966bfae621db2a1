/**
 * What the CLI writes: results on stdout (text, or one JSON document with `--json`), progress and
 * warnings on stderr. On a terminal, progress is a bar (cli-progress) with counts, rate and ETA;
 * otherwise (a log file, CI) it is one line per 1,000 images, so logs stay short.
 */
import cliProgress from 'cli-progress';
import type { ImageKey } from '../stores/keys.js';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Tracks a long job and shows how far it is. */
export interface ProgressReporter {
  /** `settled` items of the total are through; `bytes` so far, when the job moves bytes. */
  update(settled: number, bytes?: number): void;
  stop(): void;
}

/** Progress lines when not on a terminal: one per this many images. */
export const PROGRESS_LINE_EVERY = 1000;

export class Output {
  constructor(
    readonly json: boolean,
    private readonly io: Io,
  ) {}

  /** A line of the human result (left out with `--json`). */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** The machine result (only with `--json`): one JSON document, bigints as strings. */
  result(value: unknown): void {
    if (this.json) this.io.stdout.write(`${toJson(value)}\n`);
  }

  /** A warning or error for people, on stderr. */
  warn(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** A progress display for `total` items, labelled `label`. */
  progress(label: string, total: number, unit = 'images'): ProgressReporter {
    return this.io.stderr.isTTY
      ? barProgress(this.io.stderr, label, total, unit)
      : lineProgress(this.io.stderr, label, total, unit);
  }
}

function barProgress(stream: NodeJS.WritableStream, label: string, total: number, unit: string): ProgressReporter {
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted} | {size}`,
      stream,
      hideCursor: true,
      etaBuffer: 100,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: '0.0', size: formatBytes(0) });
  return {
    update(settled, bytes = 0) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      // Rows added after the count was taken may push past the total: grow the bar, not overflow it.
      if (settled > bar.getTotal()) bar.setTotal(settled);
      bar.update(settled, { rate: (settled / seconds).toFixed(1), size: formatBytes(bytes) });
    },
    stop() {
      bar.stop();
    },
  };
}

function lineProgress(stream: NodeJS.WritableStream, label: string, total: number, unit: string): ProgressReporter {
  const started = Date.now();
  let next = PROGRESS_LINE_EVERY;
  return {
    update(settled, bytes) {
      while (settled >= next) {
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        const rate = next / seconds;
        const percent = total > 0 ? ` (${((100 * next) / total).toFixed(1)}%)` : '';
        const size = bytes === undefined ? '' : `, ${formatBytes(bytes)}`;
        stream.write(
          `${label}: ${next}/${total} ${unit}${percent}, ${rate.toFixed(1)} ${unit}/s, ETA ${formatDuration(Math.max(total - next, 0) / rate)}${size}\n`,
        );
        next += PROGRESS_LINE_EVERY;
      }
    },
    stop() {},
  };
}

/** `1.5 MB`: sizes for people (powers of 1000, as disks and networks count). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** `4s`, `2m 05s`, `1h 03m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A key for JSON: the id as a decimal string (it may not fit a JSON number). */
export function jsonKey(key: ImageKey): Record<string, unknown> {
  return {
    objectType: key.objectType,
    objectId: key.objectId === undefined ? null : String(key.objectId),
    width: key.width,
    height: key.height,
    mimetype: key.mimetype,
  };
}

/** An error for JSON: its code and message. */
export function jsonError(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERR_UNEXPECTED',
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? String(v) : v));
}
