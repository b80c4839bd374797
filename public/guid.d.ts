// Types of guid.js for the Worker's TypeScript (not served: .assetsignore).
export declare const GUID: RegExp;
export declare const isGuid: (value: string) => boolean;
