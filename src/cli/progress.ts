// Progress of a long CLI run: a bar on a terminal, one plain line per item otherwise
// (CI logs, pipes), both on stderr so stdout keeps only the summary.
import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  item(label: string, outcome: string): void;
  done(): void;
}

/** A progress whose total is known only once the work starts (export, import). */
export function lazyProgress(title: string): { item(label: string, outcome: string, total: number): void; done(): void } {
  let progress: Progress | undefined;
  return {
    item(label, outcome, total) {
      progress ??= createProgress(title, total);
      progress.item(label, outcome);
    },
    done: () => progress?.done(),
  };
}

export function createProgress(title: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      { format: `${title} [{bar}] {value}/{total} {last}`, stream, hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    bar.start(total, 0, { last: '' });
    return {
      item: (label, outcome) => bar.increment(1, { last: `${label} ${outcome}` }),
      done: () => bar.stop(),
    };
  }
  let count = 0;
  return {
    item: (label, outcome) => {
      count += 1;
      stream.write(`${title} ${count}/${total}: ${label} ${outcome}\n`);
    },
    done: () => undefined,
  };
}
