/** A loopback host name or address, as in a URL (`[::1]`) or bare as given to --host (`::1`). */
export const isLoopback = (host: string): boolean =>
  /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i.test(host);
