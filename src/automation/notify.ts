/** Webhook notifications (Mattermost/Slack incoming-webhook JSON). A webhook that is down never blocks the loop. */
import { HttpClient } from '../util/http.js';

export async function notify(
  webhooks: readonly string[],
  text: string,
  log: (l: string) => void = () => undefined,
): Promise<void> {
  const body = { data: Buffer.from(JSON.stringify({ text, username: 'runctrl' })), type: 'application/json' };
  await Promise.all(
    webhooks.map(async (url) => {
      const http = new HttpClient({ url, headers: {}, timeoutMs: 5_000 });
      try {
        await http.text('POST', url, {}, body);
      } catch (err) {
        // never print the URL: incoming-webhook URLs are secrets
        log(
          `notification to webhook #${webhooks.indexOf(url) + 1} failed: ${err instanceof Error ? err.message.replace(url, '<webhook>') : String(err)}`,
        );
      } finally {
        http.close();
      }
    }),
  );
}
