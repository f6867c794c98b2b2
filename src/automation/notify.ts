/** Webhook notifications (Mattermost/Slack incoming-webhook JSON). A webhook that is down never blocks the loop. */
import got from 'got';

export async function notify(
  webhooks: readonly string[],
  text: string,
  log: (l: string) => void = () => undefined,
): Promise<void> {
  await Promise.all(
    webhooks.map(async (url) => {
      try {
        await got.post(url, {
          json: { text, username: 'runctrl' },
          timeout: { request: 5_000 },
          retry: { limit: 1 },
        });
      } catch (err) {
        // never print the URL: incoming-webhook URLs are secrets
        log(
          `notification to webhook #${webhooks.indexOf(url) + 1} failed: ${err instanceof Error ? err.message.replace(url, '<webhook>') : String(err)}`,
        );
      }
    }),
  );
}
