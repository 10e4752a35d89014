// The x11 package ships no type declarations; it is used through a small typed wrapper (x11.ts).
declare module 'x11';
