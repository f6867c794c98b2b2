import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { contextFrom } from '../context.js';
import { defineCommand } from '../define.js';
import { checkInt } from '../numbers.js';

export const serveCommand = defineCommand({
  command: 'serve',
  describe: 'a live web dashboard of the database (overview, run × workflow grid, runs, jobs, locks)',
  builder: (y) =>
    y
      .option('host', {
        type: 'string',
        default: '127.0.0.1',
        describe: 'address to bind (loopback by default)',
      })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0 = any free one)' })
      .option('job-root', {
        type: 'string',
        describe: 'job work directories, for log tails (default STATE_DIR/jobs)',
      })
      .option('max-in-flight', {
        type: 'number',
        describe: "the loop's --max-in-flight, to explain that limit",
      })
      .option('allow-actions', {
        type: 'boolean',
        default: false,
        describe: 'offer reprocess/reset/lock/unlock (token: RUNCTRL_SERVE_TOKEN, or one printed at start)',
      })
      .check((a) => {
        if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535)
          throw new UsageError('--port must be 0–65535');
        checkInt(a.maxInFlight, '--max-in-flight', 1);
        return true;
      })
      .example('$0 --db ecal_prompt_v1 serve', 'http://127.0.0.1:8080/')
      .example(
        '$0 --db ecal_prompt_v1 serve --host 0.0.0.0 --port 9000 --allow-actions',
        'for the control room',
      ),
  handler: async (a, io) => {
    const [{ ctx, config }, { parseTokens }, { serve }, { storeSource }, { backendPool }] = await Promise.all(
      [
        contextFrom(a, io),
        import('../../web/actions.js'),
        import('../../web/server.js'),
        import('../../web/source.js'),
        import('../backend-pool.js'),
      ],
    );
    const log = (l: string): void => io.err(l);
    let actions;
    const pool = backendPool(config, io.env);
    if (a.allowActions) {
      let tok = io.env.RUNCTRL_SERVE_TOKEN ?? '';
      if (!tok) {
        tok = randomBytes(18).toString('base64url');
        io.err(`runctrl serve: actions token (shown once): ${tok}`);
      }
      actions = { ctx, backend: pool.get, tokens: parseTokens(tok) };
    }
    const d = await serve({
      source: storeSource(ctx.store, {
        onError: (e) => log(`runctrl serve: ${e instanceof Error ? e.message : String(e)}`),
      }),
      host: a.host,
      port: a.port,
      jobRoot: path.resolve(io.cwd, a.jobRoot ?? path.join(config.stateDir, 'jobs')),
      ...(a.maxInFlight !== undefined ? { maxInFlight: a.maxInFlight } : {}),
      ...(actions ? { actions } : {}),
      log,
    });
    io.out(
      `runctrl serve: dashboard of database '${ctx.store.db}' at ${d.url}${a.allowActions ? ' (actions allowed)' : ' (read-only)'}`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await d.close();
    await pool.close();
  },
});
