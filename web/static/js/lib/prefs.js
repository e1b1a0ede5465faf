// Display preferences (theme, tag counts, digests) kept across visits.
// Not secrets, so localStorage is fine. storage is an argument so node
// tests run this with a fake; a storage that is missing or throws (private
// mode, cookies blocked) only means the preference is not kept.

export function preferences(storage) {
  const get = (key) => {
    try {
      return storage ? storage.getItem(key) : null;
    } catch {
      return null;
    }
  };
  const set = (key, value) => {
    try {
      if (storage) storage.setItem(key, value);
    } catch {
      // not kept; the page still uses the value until it is left
    }
  };
  return {
    /** choice is the stored value if it is one of allowed, else ''. */
    choice: (key, allowed) => {
      const v = get(key);
      return allowed.includes(v) ? v : '';
    },
    setChoice: set,
    /** flag is an on/off switch, off unless stored as on. */
    flag: (key) => get(key) === 'on',
    setFlag: (key, on) => set(key, on ? 'on' : 'off'),
  };
}
